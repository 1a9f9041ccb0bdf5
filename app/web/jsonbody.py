"""JSON request bodies are read strictly, and once: a member name twice in one object,
nesting deeper than any of our bodies could need, or an integer too long to read, is refused
with 422.

Every API route reads its JSON body through `StrictJsonRequest.json` (the routers'
`route_class`), and the bulk routes, which read JSON or CSV themselves, through `strict_json`;
either way the body is parsed once, by the one parser that refuses these.

Python's json module keeps the last of two members with the same name, so without this
`{"title": "\\u0000", "title": "ok"}` would pass as "ok": what a client meant is unknowable
(RFC 8259 leaves it undefined), so we ask it to say it once. Deep nesting would reach
Python's recursion limit inside the parser. An integer of more than 4,300 digits makes
Python's int() raise ValueError (its guard against quadratic conversion), which the routes'
parser took for a server error; none of our fields takes a number anywhere near that long.
"""

import json
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.types import Receive, Scope, Send

from app.errors import ErrorDetail, problem_response
from app.web.plainread import plain_read
from app.web.query import refuse_unknown

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
    result = dict(pairs)  # in C; a member twice makes it shorter, and is looked for then
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateMember(name)
            seen.add(name)
    return result


# A JSON string, escapes included; one left open runs to the end of the body.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def _depth_within(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest at most limit deep, without parsing: the strings
    and everything but brackets are dropped in C (a bulk body is megabytes), and only the
    brackets are counted."""
    depth = 0
    for byte in _STRING.sub(b"", body).translate(None, _NOT_A_BRACKET):
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        else:  # ] }
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


def _parse(body: bytes, numbers: bool) -> Any:
    """The document, or RefusedBody. Malformed JSON raises json's own ValueError (the caller
    says where it breaks)."""
    if not _depth_within(body, MAX_DEPTH):
        raise RefusedBody(BodyProblem(f"the JSON nests deeper than {MAX_DEPTH} levels"))
    try:
        document = json.loads(body, object_pairs_hook=_unique, parse_int=read_int)
    except DuplicateMember as duplicate:
        raise RefusedBody(
            BodyProblem(f"the member {duplicate.name!r} appears twice in one object: send it once")
        ) from None
    found = _long_number(document, ["body"]) if numbers else None
    if found is not None:
        raise RefusedBody(BodyProblem(long_number_message(found[1]), found[0], "number_too_long"))
    return document


def json_problem(body: bytes, *, numbers: bool = True) -> BodyProblem | None:
    """Why this JSON body is refused, or None (also for malformed JSON, which the reader
    reports itself). With numbers=False an integer too long is left to the reader too."""
    try:
        _parse(body, numbers)
    except RefusedBody as refused:
        return refused.problem
    except (ValueError, RecursionError):
        return None
    return None


def strict_json(body: bytes, *, numbers: bool = True) -> Any:
    """Parse a JSON body once, strictly: RefusedBody (422) for what the module refuses;
    json's ValueError for malformed JSON. With numbers=False an integer too long stays a
    LongNumber, for a reader that names the row and field it is in (the bulk routes)."""
    return _parse(body, numbers)


class RefusedBody(HTTPException):
    """A JSON body refused (422). An HTTPException, so FastAPI's body reading passes it on
    as it is rather than as a 400."""

    def __init__(self, problem: BodyProblem) -> None:
        super().__init__(422, problem.msg)
        self.problem = problem


async def refused_body_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RefusedBody)
    problem = exc.problem
    error = ErrorDetail(loc=list(problem.loc), msg=problem.msg, type=problem.type)
    where = ".".join(map(str, problem.loc))
    return problem_response(422, f"{where}: {problem.msg}", slug="validation-error", errors=[error])


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


class StrictJsonRoute(APIRoute):
    """The route class of every API router: its request reads JSON with StrictJsonRequest,
    and a plain read is handled by app/web/plainread.py."""

    # The lean handler of a plain read (app/web/plainread.py), with the check of its query's
    # names; None for any other route. app/web/lane.py runs it through `answer_plain`.
    plain: Callable[[Request], Coroutine[Any, Any, Response]] | None = None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self._known_query_only(self._handler())

    def _handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            # No body to read: FastAPI's own request will do. A plain read (every GET of
            # ours) also gets the lean handler, for the lane. It is made from the route
            # alone, so it is the same for every app the route is part of, and holds none.
            plain = plain_read(self.dependant)
            self.plain = None if plain is None else self._known_query_only(plain)
            return handler

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict

    async def answer_plain(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a plain read as FastAPI's route would, without what it adds for other
        routes: two exit stacks (for dependencies with `yield` and files, which a plain read
        has not) and its ASGI adapter. An exception becomes its handler's answer by
        Starlette's own layer, with the handlers ExceptionMiddleware keeps in the scope."""
        plain = self.plain
        assert plain is not None
        request = Request(scope, receive, send)

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            response = await plain(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)

    def _known_query_only(
        self, handler: Callable[[Request], Coroutine[Any, Any, Response]]
    ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Refuse (422) a query parameter the route does not declare. A route that reads its
        query as one model (app/web/query.py parse_query) is checked there."""
        if (self.openapi_extra or {}).get("parameters"):
            return handler
        known = frozenset(_query_names(self.dependant))

        async def checked(request: Request) -> Response:
            if request.scope.get("query_string"):
                refuse_unknown(request, known)
            return await handler(request)

        return checked
