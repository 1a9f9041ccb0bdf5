"""Request body limits, enforced before anything else looks at the request."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, problem_response


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


class BodyLimitMiddleware:
    """Answer 413 for a body over the limit, reading no more of it than the limit allows.

    A declared Content-Length over the limit is refused at once; a body without one (chunked)
    is read up to the limit and refused as soon as it passes it. Bodies within the limit are
    buffered and handed on unchanged, so the 413 always comes before authentication and
    validation, as API.md orders them.
    """

    def __init__(
        self, app: ASGIApp, *, default_limit: int, large_limit: int, large_prefix: str
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.large_limit = large_limit
        self.large_prefix = large_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = (
            self.large_limit if scope["path"].startswith(self.large_prefix) else self.default_limit
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _refuse(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than the limit of {limit:,} bytes"
        response = problem_response(413, detail, slug=PayloadTooLarge.slug)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
