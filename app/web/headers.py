"""Headers every response carries: no sniffing, no framing, a strict CSP, and no caching of
anything private or failed."""

from collections.abc import Awaitable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.middleware import cors
from starlette.types import Message, Receive, Scope, Send

from app.web.edge import HttpMiddleware

# The API serves data, never pages, so it needs nothing from a CSP; /docs runs Swagger UI's
# own scripts and styles (served by us) and gets a CSP that allows those, and only those.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs-static")
# The pages for people that are ours alone, the dashboard at / and the printable report
# (/plans/{id}/report/{year}), load nothing but their own files and the API: no inline
# script or style, no other origin.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_PREFIXES = ("/dashboard-static/", "/plans/")
BASELINE = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# What every API answer carries; the 500 answer, sent from outside every middleware, gets
# them from app/main.py.
API_HEADERS = BASELINE | {"Content-Security-Policy": API_CSP}
# Encoded once: appended to every response as they are (no route sets these).
_RAW_API = [(name.lower().encode(), value.encode()) for name, value in API_HEADERS.items()]
_RAW_DOCS = [
    (name.lower().encode(), value.encode())
    for name, value in (BASELINE | {"Content-Security-Policy": DOCS_CSP}).items()
]
_RAW_PAGE = [
    (name.lower().encode(), value.encode())
    for name, value in (BASELINE | {"Content-Security-Policy": PAGE_CSP}).items()
]


def _headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """The baseline headers with the CSP of what the path serves: docs, a page, or data."""
    if path.startswith(DOCS_PATHS):
        return _RAW_DOCS
    if path == "/" or path.startswith(PAGE_PREFIXES):
        return _RAW_PAGE
    return _RAW_API


class SecurityHeadersMiddleware(HttpMiddleware):
    def http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        own = _headers_for(scope["path"])
        private = any(name == b"authorization" for name, _ in scope["headers"])
        writes = scope["method"] not in ("GET", "HEAD", "OPTIONS")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    *own,
                ]
                if private or writes or message["status"] >= 400:
                    MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        return self.app(scope, receive, send_with_headers)


class CORSMiddleware(cors.CORSMiddleware):
    """Starlette's CORS, with one shortcut: a request without an Origin header (no browser
    reading across origins: curl, scripts, servers) only gets `Origin` added to its Vary,
    exactly as Starlette adds it, without the header objects Starlette builds for that on
    every request (their cost: bench/README.md)."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:  # type: ignore[override]
        # A plain function, as app/web/edge.py's HttpMiddleware says why.
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            return super().__call__(scope, receive, send)

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _vary_origin(message.get("headers", ()))
            await send(message)

        return self.app(scope, receive, send_varying)


def _vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """headers with `Origin` added to Vary: every Vary value joined into the first, as
    Starlette's MutableHeaders writes `Vary` when CORS sets it."""
    out: list[tuple[bytes, bytes]] = []
    values: list[bytes] = []
    first = -1
    for name, value in headers:
        if name == b"vary":
            if first < 0:
                first = len(out)
                out.append((b"vary", b""))
            values.append(value)
        else:
            out.append((name, value))
    values.append(b"Origin")
    if first < 0:
        out.append((b"vary", b"Origin"))
    else:
        out[first] = (b"vary", b", ".join(values))
    return out
