"""The middleware stack, in one place and in the order a request meets it.

Each layer's reason for its place is beside it. The list goes to FastAPI(middleware=...),
which runs its first entry outermost: read it from top to bottom as the outside in.
"""

from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.auth.guard import BearerAuthMiddleware
from app.config import Settings
from app.web.answers import AnswerCacheMiddleware
from app.web.faults import DatabaseFaultMiddleware
from app.web.headers import CORSMiddleware, SecurityHeadersMiddleware
from app.web.limits import RequestLimitsMiddleware
from app.web.logs import AccessLogMiddleware
from app.web.methods import MethodsMiddleware
from app.web.origin import OriginMiddleware
from app.web.retry import RetryTransientMiddleware

ALLOWED_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Accept-Language",
]
EXPOSED_RESPONSE_HEADERS = [
    "ETag",
    "Link",
    "Location",
    "Content-Disposition",
    "Retry-After",
    "X-Replaced-Characters",
    "X-Request-ID",
]


def middleware(settings: Settings, prefix: str) -> list[Middleware]:
    """The middleware from the outside in."""
    bulk = f"{prefix}/bulk"
    # Outermost, so every answer is logged and timed, the errors of the layers below too.
    stack = [
        Middleware(AccessLogMiddleware, prefix=prefix, log_format=settings.log_format),
        Middleware(SecurityHeadersMiddleware),
    ]
    if settings.forwarded_allow_ips:
        # Only then are X-Forwarded-For and -Proto believed, and only from these proxies.
        stack.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips))
    stack += [
        # After the proxy headers, before anything builds a URL or keeps an answer.
        Middleware(
            OriginMiddleware,
            public_base_url=settings.public_base_url,
            allowed_hosts=settings.allowed_host_list,
        ),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=False,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=ALLOWED_REQUEST_HEADERS,
            expose_headers=EXPOSED_RESPONSE_HEADERS,
        ),
        # Outside everything that touches the database: an outage is a 503 for all of it.
        Middleware(DatabaseFaultMiddleware),
        # HEAD as GET, and 405 before any token is asked for.
        Middleware(MethodsMiddleware),
        # A declared length over the limit is 413 here; the body itself is read only after
        # the token is checked, and a body that stops arriving is 408.
        Middleware(
            RequestLimitsMiddleware,
            default_limit=settings.max_body_bytes,
            large_limit=settings.max_bulk_body_bytes,
            large_prefix=bulk,
            max_header_bytes=settings.max_header_bytes,
            body_timeout=settings.body_timeout,
        ),
        # Kept answers serve public reads before authentication, which reads never need.
        Middleware(
            AnswerCacheMiddleware,
            prefix=prefix,
            max_bytes=settings.answer_cache_bytes,
            max_item_bytes=settings.answer_cache_item_bytes,
        ),
        # The token before the body: a refused write's body is never read.
        Middleware(BearerAuthMiddleware, prefix=prefix),
        # Innermost: it replays the buffered body when the database aborts a write as
        # transient, so only the route runs again.
        Middleware(RetryTransientMiddleware, prefix=prefix),
    ]
    return stack
