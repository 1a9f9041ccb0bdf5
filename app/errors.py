"""Errors as RFC 9457 problem+json, rendered in one place.

    AppError                 a problem the client can act on; carries status and detail
     │   (401 for a missing or bad token is answered by app/auth/tokens.py, before routing)
     ├── Forbidden           403  the token's role may not do this
     ├── NotFound            404  a resource (or route) that does not exist
     ├── Conflict            409  a duplicate natural key, children in the way, a busy key
     ├── PreconditionFailed  412  a stale If-Match
     ├── PayloadTooLarge     413  a body over the limit, or more than 10,000 bulk rows
     ├── UnsupportedMediaType 415 a bulk body that is neither JSON nor CSV
     ├── InvalidInput        422  a value that breaks a rule the schema cannot say; `errors`
     └── ServiceUnavailable  503  the database is unreachable or not migrated

Request validation by FastAPI/pydantic becomes InvalidInput's shape too, and anything
unexpected a bare 500 without internals (the traceback goes to the log, not the client).
"""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from app.fields import Absent, absent

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:plan-progress:problem:{slug}"
log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    row: int | Absent = absent("Bulk uploads: the row, 0-based.")
    line: int | Absent = absent("Bulk CSV: its line (header = 1).")


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = Field(examples=["urn:plan-progress:problem:not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["initiative 999 does not exist"])
    errors: list[ErrorDetail] | Absent = absent(
        "What is wrong, one item per bad value; only in validation errors (422)."
    )


class AppError(Exception):
    status: int = 400
    slug: str = "bad-request"
    headers: dict[str, str] = {}  # noqa: RUF012 (read only; sent with the problem)

    def __init__(self, detail: str, *, errors: Sequence[ErrorDetail] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None


class Forbidden(AppError):
    status, slug = 403, "forbidden"


class NotFound(AppError):
    status, slug = 404, "not-found"


class Conflict(AppError):
    status, slug = 409, "conflict"


class PreconditionFailed(AppError):
    status, slug = 412, "precondition-failed"


class PayloadTooLarge(AppError):
    status, slug = 413, "payload-too-large"


class UnsupportedMediaType(AppError):
    status, slug = 415, "unsupported-media-type"


class InvalidInput(AppError):
    status, slug = 422, "validation-error"

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str, type_: str = "value_error") -> "InvalidInput":
        """Return the error for one bad value at loc (e.g. ["query", "fiscal_year"])."""
        return cls(msg, errors=[ErrorDetail(loc=list(loc), msg=msg, type=type_)])


class ServiceUnavailable(AppError):
    status, slug = 503, "not-ready"
    headers = {"Retry-After": "5"}  # noqa: RUF012 (as an outage's 503, app/web/faults.py)


# The problems answered in front of the routes, by middlewares: a missing or bad token
# (app/auth/tokens.py), a token writing too fast (the same), and a write the database kept
# aborting as transient (app/web/faults.py).
UNAUTHORIZED, TOO_MANY_REQUESTS, BUSY = "unauthorized", "too-many-requests", "busy"
# A range past the end of a download (app/exports/router.py).
RANGE_NOT_SATISFIABLE = "range-not-satisfiable"
# The `type` a route's problem of each status has (the slug in PROBLEM_TYPE). A 503 is
# `not-ready` from /readyz but `busy` from a write: write routes say so (app/web/http.py).
SLUGS: dict[int, str] = {
    **{error.status: error.slug for error in AppError.__subclasses__()},
    401: UNAUTHORIZED,
    416: RANGE_NOT_SATISFIABLE,
    429: TOO_MANY_REQUESTS,
}


def problem_type(slug: str | None) -> str:
    """The `type` URI of a problem: ours for a slug, else RFC 9457's `about:blank`."""
    return PROBLEM_TYPE.format(slug=slug) if slug else "about:blank"


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [error.model_dump(exclude_none=True) for error in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# What pydantic puts before the message of a ValueError raised in a validator: the message
# is ours, written for the client, and the prefix only says how it was raised.
_RAISED_AS = ("Value error, ", "Assertion failed, ")


def message_of(error: Mapping[str, Any]) -> str:
    """The message of one of pydantic's errors, as a client should read it."""
    message = str(error.get("msg", ""))
    for prefix in _RAISED_AS:
        message = message.removeprefix(prefix)
    return message


def _said_plainly(request: Request, error: ErrorDetail) -> ErrorDetail:
    """A body FastAPI did not read as JSON, because it was not sent as JSON, is said to be
    that, not "a valid dictionary or object to extract fields from"."""
    if error.loc != ["body"] or error.type != "model_attributes_type":
        return error
    sent = request.headers.get("content-type") or "none"
    return ErrorDetail(
        loc=error.loc,
        msg=f"send the body as JSON, with Content-Type: application/json (it was {sent!r})",
        type="body_not_json",
    )


def _validation_errors(exc: RequestValidationError) -> list[ErrorDetail]:
    return [
        ErrorDetail(
            loc=[part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            msg=message_of(error),
            type=str(error.get("type", "value_error")),
        )
        for error in exc.errors()
    ]


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status, exc.detail, slug=exc.slug, errors=exc.errors, headers=exc.headers or None
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_said_plainly(request, error) for error in _validation_errors(exc)]
    first = errors[0] if errors else None
    detail = f"{'.'.join(map(str, first.loc))}: {first.msg}" if first else "invalid request"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem_response(422, detail, slug="validation-error", errors=errors)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not decode (not UTF-8). Like malformed JSON,
        # that is invalid input.
        detail = "the body could not be read: send JSON in UTF-8"
        error = ErrorDetail(loc=["body"], msg=detail, type="body_unreadable")
        return problem_response(422, detail, slug="validation-error", errors=[error])
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        headers = (headers or {}) | {"Allow": ", ".join(allowed_methods(request))}
    return problem_response(exc.status_code, detail, headers=headers)


PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Return every method some route answers at the request's path, for a 405's `Allow`.

    The router's own 405 names only the methods of the first route whose path matched, and
    FastAPI keeps included routers nested, so /plans answered `Allow: GET` although POST is
    there too (RFC 9110 §15.5.6 wants all of them). Each method is probed against the app's
    routes with their public `matches`, which recurses into included routers. A mount (the
    docs' static files) matches whatever the method; what it serves is GET and HEAD.
    """
    # A path routes name word for word (/plans/import) is theirs alone, not also that of a
    # route with a parameter that would take the word (/plans/{plan_id}): app/main.py keeps
    # those paths' methods.
    literal: dict[str, list[str]] = getattr(request.app.state, "literal_paths", {})
    if (methods := literal.get(request.scope["path"])) is not None:
        return methods
    router = getattr(request.app, "router", None)
    routes: list[BaseRoute] = list(getattr(router, "routes", []))
    allowed: list[str] = []
    mounted = False
    for method in PROBED_METHODS:
        probe: Scope = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            # The app's own root path: a mount has moved `root_path` to its prefix.
            "root_path": request.scope.get("app_root_path", request.scope.get("root_path", "")),
            "headers": [],
            "query_string": b"",
        }
        for route in routes:
            match, _ = route.matches(probe)
            if match == Match.FULL:
                if isinstance(route, Mount):
                    mounted = True
                else:
                    allowed.append(method)
                break
    if not allowed and mounted:
        allowed = ["GET", "HEAD"]
    if "GET" in allowed and "HEAD" not in allowed:  # app/web/edge.py answers HEAD as GET
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def install_error_handlers(app: FastAPI, unexpected_headers: Mapping[str, str]) -> None:
    """Answer every error as problem+json. An unexpected one (500) is answered from outside
    every middleware (Starlette's ServerErrorMiddleware): unexpected_headers are those the
    middlewares would have added."""

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        headers = {**unexpected_headers, "Cache-Control": "no-store"}
        return problem_response(
            500, "an unexpected error occurred; it has been logged", headers=headers
        )

    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, unexpected)


PROBLEM_EXAMPLES: dict[int, str] = {
    400: "the request could not be read",
    401: "writes need a token: send `Authorization: Bearer <token>`",
    403: "token 'kanazawa-staff' has role editor; this needs admin",
    404: "initiative 999 does not exist",
    409: "an initiative with code 'R6-7' exists in plan 1 already",
    412: 'the resource is at version 3, not "2": fetch it again and retry',
    413: "the request body is larger than the limit of 1,048,576 bytes",
    422: "body.code: a code is 1-32 letters, digits and hyphens (例: R6-7)",
    416: "the range 'bytes=99999-' starts past the end of the file, which has 48451 bytes",
    429: "token 'nightly-import' is writing faster than this server allows: retry later",
    503: "the database is not reachable",
}


def problem_responses(
    *statuses: int,
    slugs: dict[int, str] | None = None,
    details: dict[int, str] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI `responses` entries declaring these problem statuses for a route,
    each with an example of the `type` the server sends for it (SLUGS, or those in slugs)
    and of its detail (PROBLEM_EXAMPLES, or those in details)."""
    chosen = SLUGS | (slugs or {})
    examples = PROBLEM_EXAMPLES | (details or {})
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {
                        "type": problem_type(chosen.get(status)),
                        "title": HTTPStatus(status).phrase,
                        "status": status,
                        "detail": examples.get(status, HTTPStatus(status).phrase),
                    },
                }
            },
        }
        for status in statuses
    }
