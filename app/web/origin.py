"""Which origin a request is answered as: the one absolute URLs (Link, Location, the
catalogue, the datapackage) are written with.

Left to itself, a framework writes absolute URLs with whatever Host header the client sent,
and an answer kept for one client (app/web/answers.py) would carry that host to every other
client (web cache poisoning). Three settings decide instead (app/config.py):

- FORWARDED_ALLOW_IPS: X-Forwarded-For and X-Forwarded-Proto are believed only from these
  proxies (uvicorn's ProxyHeadersMiddleware, added in app/main.py only when set).
- ALLOWED_HOSTS: a request whose Host is not one of these answers 400 problem+json.
- PUBLIC_BASE_URL: when set, every request is answered as made to that origin: its scheme and
  Host are put in the request's scope, so every URL the routes build is canonical and no
  client can change it. When unset, the request's scheme and host are part of every kept
  answer's key and ETag (app/web/answers.py, app/web/caching.py).
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import PublicOrigin
from app.errors import problem_response


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


class OriginMiddleware:
    """Refuse hosts outside ALLOWED_HOSTS; answer as PUBLIC_BASE_URL when it is set."""

    def __init__(self, app: ASGIApp, *, public_base_url: str, allowed_hosts: list[str]) -> None:
        self.app = app
        self.origin = PublicOrigin(public_base_url) if public_base_url else None
        self.allowed = allowed_hosts or ["*"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed != ["*"]:
            host = next((value for name, value in scope["headers"] if name == b"host"), b"")
            if not _host_allowed(_hostname(host), self.allowed):
                response = problem_response(
                    400,
                    "this service does not answer to that Host (ALLOWED_HOSTS)",
                    slug="host-not-allowed",
                )
                await response(scope, receive, send)
                return
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
        await self.app(scope, receive, send)
