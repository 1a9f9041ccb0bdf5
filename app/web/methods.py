"""HTTP methods the routes do not spell out: HEAD wherever GET is, and 405 before any token.

- HEAD: harvesters and link checkers probe downloads with HEAD. Every GET route answers it
  with the GET's status and headers and no body: the request goes on as a GET (so a kept
  answer serves it too) and the body is dropped on the way out.
- 405: a write to a path whose routes do not take that method answers 405 with `Allow`
  here, in front of authentication, so a client learns the method is wrong without a token
  (the contract says: "before any token check"). A write to a path no route has goes on to the
  router's 404 the same way.
"""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import allowed_methods, problem_response

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_api_write(scope: Scope, prefix: str) -> bool:
    """Whether the request is a write (POST, PUT, PATCH, DELETE) under the API prefix."""
    return (
        scope["type"] == "http"
        and scope["method"] in WRITE_METHODS
        and scope["path"].startswith(prefix)
    )


class MethodsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            # A copy: the server's own scope must still say HEAD (it expects no body).
            as_get = {**scope, "method": "GET"}
            await self.app(as_get, receive, _without_body(send))
            if "route" in as_get:  # for the access log (app/web/logs.py)
                scope["route"] = as_get["route"]
            return
        if method in WRITE_METHODS:
            allowed = allowed_methods(Request(scope))
            if method not in allowed:
                status = 405 if allowed else 404
                detail = (
                    f"{method} is not a method of {scope['path']}; it takes {', '.join(allowed)}"
                    if allowed
                    else f"there is nothing at {scope['path']}"
                )
                headers = {"Allow": ", ".join(allowed)} if allowed else None
                await problem_response(status, detail, headers=headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _without_body(send: Send) -> Send:
    """Pass the start of an answer on, and end it there: a HEAD gets no body."""
    ended = False

    async def send_head(message: Message) -> None:
        nonlocal ended
        if message["type"] == "http.response.start":
            await send(message)
        elif message["type"] == "http.response.body":
            if not ended:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send(message)

    return send_head
