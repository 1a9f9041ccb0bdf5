"""JSON request bodies are read strictly: a member name twice in one object, or nesting
deeper than any of our bodies could need, is refused with 422 before a route sees the body.

Python's json module keeps the last of two members with the same name, so without this
`{"title": "\\u0000", "title": "ok"}` would pass as "ok": what a client meant is unknowable
(RFC 8259 leaves it undefined), so we ask it to say it once. Deep nesting would reach
Python's recursion limit inside the parser.
"""

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ErrorDetail, problem_response
from app.limits import replaying

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_DEPTH = 32  # our deepest body (a report with lines) needs 3


class DuplicateMember(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise DuplicateMember(name)
        result[name] = value
    return result


def _depth_within(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest at most limit deep (a linear scan, no parse)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return True


def json_problem(body: bytes) -> str | None:
    """Why this JSON body is refused, or None (malformed JSON is left to the route, which
    says where it breaks)."""
    if not _depth_within(body, MAX_DEPTH):
        return f"the JSON nests deeper than {MAX_DEPTH} levels"
    try:
        json.loads(body, object_pairs_hook=_unique)
    except DuplicateMember as duplicate:
        return f"the member {duplicate.name!r} appears twice in one object: send it once"
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class StrictJsonMiddleware:
    """Check JSON bodies of writes (see the module's docstring). It sits inside the body
    limit and authentication, so 413 and 401 still come first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem(body)
        if problem is not None:
            error = ErrorDetail(loc=["body"], msg=problem, type="json_invalid")
            response = problem_response(
                422, f"body: {problem}", slug="validation-error", errors=[error]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
