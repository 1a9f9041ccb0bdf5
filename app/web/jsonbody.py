"""JSON request bodies are read strictly: a member name twice in one object, nesting
deeper than any of our bodies could need, or an integer too long to read, is refused with 422
before a route sees the body.

Python's json module keeps the last of two members with the same name, so without this
`{"title": "\\u0000", "title": "ok"}` would pass as "ok": what a client meant is unknowable
(RFC 8259 leaves it undefined), so we ask it to say it once. Deep nesting would reach
Python's recursion limit inside the parser. An integer of more than 4,300 digits makes
Python's int() raise ValueError (its guard against quadratic conversion), which the routes'
parser took for a server error; none of our fields takes a number anywhere near that long.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ErrorDetail, problem_response
from app.web.limits import replaying

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # the writes that carry a body
MAX_DEPTH = 32  # our deepest body (a report with lines) needs 3
# Python's default int_max_str_digits: read no longer integer, whatever the interpreter allows
# (an unlimited one would spend quadratic time on a 32 MiB number).
MAX_DIGITS = 4300


@dataclass(frozen=True)
class LongNumber:
    """An integer written with more than MAX_DIGITS digits, left unread: whoever checks the
    value refuses it and says where it is (no type accepts this object)."""

    digits: int


def read_int(literal: str) -> int | LongNumber:
    """Read an integer (JSON's parse_int, a CSV cell), or LongNumber when it is too long."""
    digits = len(literal.lstrip("+-"))
    return LongNumber(digits) if digits > MAX_DIGITS else int(literal)


def long_number_message(number: LongNumber) -> str:
    return f"a number of {number.digits:,} digits: no field takes a number that long"


@dataclass(frozen=True)
class BodyProblem:
    msg: str
    loc: Sequence[str | int] = ("body",)
    type: str = "json_invalid"


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


def _long_number(value: Any, path: list[str | int]) -> tuple[list[str | int], LongNumber] | None:
    """Where the first LongNumber in a parsed document is (depth is bounded by MAX_DEPTH)."""
    if isinstance(value, LongNumber):
        return path, value
    if isinstance(value, dict | list):
        members = value.items() if isinstance(value, dict) else enumerate(value)
        for name, member in members:
            found = _long_number(member, [*path, name])
            if found is not None:
                return found
    return None


def json_problem(body: bytes, *, numbers: bool = True) -> BodyProblem | None:
    """Why this JSON body is refused, or None (malformed JSON is left to the route, which
    says where it breaks). With numbers=False an integer too long is left to the route too."""
    if not _depth_within(body, MAX_DEPTH):
        return BodyProblem(f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        document = json.loads(body, object_pairs_hook=_unique, parse_int=read_int)
    except DuplicateMember as duplicate:
        return BodyProblem(
            f"the member {duplicate.name!r} appears twice in one object: send it once"
        )
    except (ValueError, RecursionError):
        return None
    found = _long_number(document, ["body"]) if numbers else None
    if found is not None:
        return BodyProblem(long_number_message(found[1]), found[0], "number_too_long")
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class StrictJsonMiddleware:
    """Check JSON bodies of writes (see the module's docstring). It sits inside the body
    limit and authentication, so 413 and 401 still come first.

    Under rows_prefix (the bulk routes) an integer too long is left to the route: it reads
    its rows itself and names the row and field, in the client's language, among the rest
    of the rows' errors."""

    def __init__(self, app: ASGIApp, *, rows_prefix: str) -> None:
        self.app = app
        self.rows_prefix = rows_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or not _is_json(scope):
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
        problem = json_problem(body, numbers=not scope["path"].startswith(self.rows_prefix))
        if problem is not None:
            error = ErrorDetail(loc=list(problem.loc), msg=problem.msg, type=problem.type)
            where = ".".join(map(str, problem.loc))
            response = problem_response(
                422, f"{where}: {problem.msg}", slug="validation-error", errors=[error]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
