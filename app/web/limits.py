"""Request size and time limits: headers, bodies, and bodies that stop arriving.

- Headers larger than `max_header_bytes` in all answer 431, whatever the method.
- A declared Content-Length over the body limit answers 413 at once, before anything else
  looks at the request (the contract orders 413 before 401: a client sending too
  much learns that before it is asked for a token).
- Otherwise the body is not read here: the token is checked first (app/auth/guard.py), and
  the body is read by the layers after it through a receive that counts what arrives. A
  body that grows past the limit (chunked, without a length) answers 413 as soon as it does;
  one that stops arriving for `body_timeout` seconds answers 408. Either way the connection
  is closed, and nothing of the request has been acted on.
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app a body already read, whole, then listens on (for a
    disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyRefused(Exception):
    """Raised by the counting receive: the body is too large (413) or stopped (408)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestLimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        large_limit: int,
        large_prefix: str,
        max_header_bytes: int,
        body_timeout: float,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.large_limit = large_limit
        self.large_prefix = large_prefix
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            detail = (
                f"the request's headers take {header_bytes:,} bytes; at most"
                f" {self.max_header_bytes:,} are read"
            )
            await _refuse(431, detail, "request-header-fields-too-large", scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = (
            self.large_limit if scope["path"].startswith(self.large_prefix) else self.default_limit
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(413, _too_large(limit), "payload-too-large", scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, self._counting(receive, limit), tracking)
        except BodyRefused as refused:
            if started:  # cannot happen: nothing answers before it has the body
                raise
            slug = "payload-too-large" if refused.status == 413 else "request-timeout"
            await _refuse(refused.status, refused.detail, slug, scope, receive, send)

    def _counting(self, receive: Receive, limit: int) -> Receive:
        size = 0
        complete = False
        timeout = self.body_timeout

        async def counted() -> Message:
            nonlocal size, complete
            if complete:  # the body is in; what comes now is a disconnect, whenever it comes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise BodyRefused(
                    408, f"the request body stopped arriving for {timeout:g} seconds"
                ) from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyRefused(413, _too_large(limit))
                complete = not message.get("more_body", False)
            return message

        return counted


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit:,} bytes"


async def _refuse(
    status: int, detail: str, slug: str, scope: Scope, receive: Receive, send: Send
) -> None:
    response = problem_response(status, detail, slug=slug)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
