"""The edge: what a request must be to be answered at all, checked before anything of ours
reads it. Three middlewares, in the order app/main.py gives them:

- OriginMiddleware: which host and scheme the request is answered as (ALLOWED_HOSTS,
  PUBLIC_BASE_URL), so no client can choose the URLs written in another's answer;
- MethodsMiddleware: HEAD wherever GET is, and 405 before any token is asked for;
- RequestLimitsMiddleware: the size of headers and bodies, and bodies that stop arriving.

And the shape every middleware of the service has (HttpMiddleware), here because every
request passes this way first.
"""

import asyncio
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import PublicOrigin
from app.errors import allowed_methods, problem_response


class HttpMiddleware:
    """A middleware that sees HTTP requests; every other scope (lifespan) passes through.
    A subclass writes `http`, with the request's scope, receive and send, which returns what
    the server awaits.

    The chain of coroutines a request runs in is as long as the layers that are coroutines,
    and each link costs a call, and a pass every time the request waits (for the database,
    say) and every time it resumes: the layers cost a read on PostgreSQL some 10 % of its
    instructions that way (bench/README.md). So a layer is a coroutine only for the requests
    where it has something to do after the layers inside it, or around them (an exception to
    catch, a line to write). Otherwise `http` is a plain function: it looks at the request,
    wraps `send` if it adds headers, and hands back the inner app's coroutine (or a refusal's)
    for the server to await, out of the chain. `__call__` is such a function too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    def http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Which origin a request is answered as: the one absolute URLs (Link, Location, the
# catalogue, the datapackage) are written with.
#
# Left to itself, a framework writes absolute URLs with whatever Host header the client sent,
# and an answer kept for one client (app/web/caching.py) would carry that host to every other
# client (web cache poisoning). Three settings decide instead (app/config.py):
#
# - FORWARDED_ALLOW_IPS: X-Forwarded-For and X-Forwarded-Proto are believed only from these
#   proxies (uvicorn's ProxyHeadersMiddleware, added in app/main.py only when set).
# - ALLOWED_HOSTS: a request whose Host is not one of these answers 400 problem+json.
# - PUBLIC_BASE_URL: when set, every request is answered as made to that origin: its scheme and
#   Host are put in the request's scope, so every URL the routes build is canonical and no
#   client can change it. When unset, the request's scheme and host are part of every kept
#   answer's key and ETag (app/web/caching.py, app/web/caching.py).


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def _hostname(host: bytes) -> str:
    """The host name of a Host header value, without its port (IPv6 in brackets kept)."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rpartition(":")[0] if text.count(":") == 1 else text


class OriginMiddleware(HttpMiddleware):
    """Refuse hosts outside ALLOWED_HOSTS; answer as PUBLIC_BASE_URL when it is set."""

    def __init__(self, app: ASGIApp, *, public_base_url: str, allowed_hosts: list[str]) -> None:
        super().__init__(app)
        self.origin = PublicOrigin(public_base_url) if public_base_url else None
        self.allowed = allowed_hosts or ["*"]

    def http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if self.allowed != ["*"]:
            host = next((value for name, value in scope["headers"] if name == b"host"), b"")
            if not _host_allowed(_hostname(host), self.allowed):
                response = problem_response(
                    400,
                    "this service does not answer to that Host (ALLOWED_HOSTS)",
                    slug="host-not-allowed",
                )
                return response(scope, receive, send)
        if self.origin is not None:
            # In place, not a copy: the layers outside (the access log) read what the router
            # adds to this scope.
            origin = self.origin
            scope["scheme"] = origin.scheme
            scope["server"] = (origin.hostname, origin.port)
            scope["headers"] = [
                *((name, value) for name, value in scope["headers"] if name != b"host"),
                (b"host", origin.host),
            ]
        return self.app(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# HTTP methods the routes do not spell out: HEAD wherever GET is, and 405 before any token.
#
# - HEAD: harvesters and link checkers probe downloads with HEAD. Every GET route answers it
#   with the GET's status and headers and no body: the request goes on as a GET (so a kept
#   answer serves it too) and the body is dropped on the way out.
# - 405: a write to a path whose routes do not take that method answers 405 with `Allow`
#   here, in front of authentication, so a client learns the method is wrong without a token
#   (the contract says: "before any token check"). A write to a path no route has goes on to the
#   router's 404 the same way.

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_api_write(scope: Scope, prefix: str) -> bool:
    """Whether the request is a write (POST, PUT, PATCH, DELETE) under the API prefix."""
    return (
        scope["type"] == "http"
        and scope["method"] in WRITE_METHODS
        and scope["path"].startswith(prefix)
    )


class MethodsMiddleware(HttpMiddleware):
    def http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        method = scope["method"]
        # A path routes name word for word is theirs alone (app/errors.py, allowed_methods):
        # GET /plans/import is 405, not a plan whose id is "import".
        literal = getattr(scope["app"].state, "literal_paths", {}) if "app" in scope else {}
        named = literal.get(scope["path"])
        if named is not None and method not in named and method != "OPTIONS":
            detail = f"{method} is not a method of {scope['path']}; it takes {', '.join(named)}"
            allow = {"Allow": ", ".join(named)}
            return problem_response(405, detail, headers=allow)(scope, receive, send)
        if method == "HEAD":
            return self.head(scope, receive, send)
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
                return problem_response(status, detail, headers=headers)(scope, receive, send)
        return self.app(scope, receive, send)

    async def head(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A copy: the server's own scope must still say HEAD (it expects no body).
        as_get = {**scope, "method": "GET"}
        await self.app(as_get, receive, _without_body(send))
        if "route" in as_get:  # for the access log (app/web/monitoring.py)
            scope["route"] = as_get["route"]


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


# ---------------------------------------------------------------------------------------------
# Request size and time limits: headers, bodies, and bodies that stop arriving.
#
# - Headers larger than `max_header_bytes` in all answer 431, whatever the method.
# - A declared Content-Length over the body limit answers 413 at once, before anything else
#   looks at the request (the contract orders 413 before 401: a client sending too
#   much learns that before it is asked for a token).
# - Otherwise the body is not read here: the token is checked first (app/auth/tokens.py), and
#   the body is read by the layers after it through a receive that counts what arrives. A
#   body that grows past the limit (chunked, without a length) answers 413 as soon as it does;
#   one that stops arriving for `body_timeout` seconds answers 408. Either way the connection
#   is closed, and nothing of the request has been acted on.


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


class RequestLimitsMiddleware(HttpMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        large_limit: int,
        large_prefixes: tuple[str, ...],
        max_header_bytes: int,
        body_timeout: float,
    ) -> None:
        super().__init__(app)
        self.default_limit = default_limit
        self.large_limit = large_limit
        self.large_prefixes = large_prefixes
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout

    def http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            detail = (
                f"the request's headers take {header_bytes:,} bytes; at most"
                f" {self.max_header_bytes:,} are read"
            )
            return _refuse(431, detail, "request-header-fields-too-large", scope, receive, send)
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(scope, receive, send)
        return self.limited(scope, receive, send)

    async def limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request that may have a body: its declared length, then what arrives."""
        large = scope["path"].startswith(self.large_prefixes)
        limit = self.large_limit if large else self.default_limit
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
