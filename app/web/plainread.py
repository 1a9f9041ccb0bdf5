"""A plain read's handler: its path and query parameters, its dependencies, its endpoint.

FastAPI's own request handler is general: it reads a body, builds a sub-response for
dependencies to set headers on, keeps exit stacks and a dependency cache, checks overrides,
reads headers and cookies for parameters that may be declared, and serializes what the
endpoint returns. A read of ours needs none of that. Its parameters are in the path and the
query, its dependencies are `async def` functions of more such parameters (the page, the
filters), and its endpoint returns the Response itself. For such a route, `plain_read`
gives a handler that does only what that needs, with FastAPI's own functions for the part
clients see: each parameter is validated by FastAPI's own function, so values, defaults
and the errors of a 422 are FastAPI's, in FastAPI's order (a dependency's parameters before
those of what depends on it, path before query). What FastAPI works out anew for each
parameter of each request (is it a model, a list, JSON, does it have other names) is worked
out once, when the route is built. The route is declared as before, so the OpenAPI
document does not change. These are FastAPI's internal functions: an upgrade that renames
one fails at import, and tests/test_plain_read.py says whether the answers still agree.

CPU a request in-process, FastAPI's handler against this one, on bench/run's data (best of
7 batches of 1,000, two runs, 2026-12-06): GET of one initiative on PostgreSQL 379-383 µs
against 352-355; the list of 50 on SQLite 836-872 against 761-777.

The lane (app/web/lane.py) runs this handler; a request the lane leaves to FastAPI (while
`app.dependency_overrides` holds anything, the tests' way to swap a dependency, or with
OpenTelemetry on) gets FastAPI's own. Any route that needs more (a body, a header or cookie
parameter, a dependency with `yield` or a plain `def`, security scopes, a Response or
BackgroundTasks parameter, an endpoint that returns something to serialize) has none.
tests/test_plain_read.py compares both handlers on valid and invalid requests.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, get_type_hints

from fastapi import Request, Response
from fastapi._compat import ModelField, field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _validate_value_with_model_field,
    request_params_to_args,
)
from fastapi.exceptions import RequestValidationError
from pydantic_core import PydanticUndefined
from starlette.datastructures import QueryParams

from app.reads import reader_of

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _returns_response(call: Callable[..., Any]) -> bool:
    try:
        returned = get_type_hints(call).get("return")
    except (NameError, TypeError):  # a hint that cannot be resolved: not ours to judge
        return False
    return inspect.isclass(returned) and issubclass(returned, Response)


def _plain(dependant: Dependant, seen: set[int]) -> bool:
    """Whether dependant, and each of its dependencies, takes only path and query parameters
    (and the request), is an `async def`, and appears once in the tree."""
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call) or id(call) in seen:
        return False
    seen.add(id(call))
    extras = (
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
        dependant.own_oauth_scopes,
        dependant.parent_oauth_scopes,
    )
    if any(extras):
        return False
    return all(_plain(sub, seen) for sub in dependant.dependencies)


@dataclass(frozen=True)
class _Scalar:
    """A query parameter that takes one value under one name."""

    field: ModelField
    name: str


def _scalars(fields: list[ModelField]) -> list[_Scalar] | None:
    """fields as _Scalar, or None unless each is one: no model, list, JSON or alias choices.

    `request_params_to_args` works out for each parameter of each request whether it is one
    of those (some 5 µs a parameter; the list of initiatives has 11); for these parameters
    its answer is always the same, found here once."""
    scalars = []
    for field in fields:
        aliases = _get_param_aliases(field)
        if (
            _get_param_model(field) is not None
            or _is_json_field(field)
            or field_annotation_is_sequence(field.field_info.annotation)
            or len(aliases) != 1
        ):
            return None
        scalars.append(_Scalar(field, aliases[0][1]))
    return scalars


def _read_query(scalars: list[_Scalar], query: QueryParams) -> tuple[dict[str, Any], list[Any]]:
    """What `request_params_to_args(fields, query)` answers, for scalar fields: a parameter
    left out validates its default, one given validates its last value, each with FastAPI's
    own function."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for scalar in scalars:
        value = query.get(scalar.name)
        found, wrong = _validate_value_with_model_field(
            field=scalar.field,
            value=PydanticUndefined if value is None else value,
            values=values,
            loc=("query", scalar.name),
        )
        if wrong:
            errors.extend(wrong)
        else:
            values[scalar.field.name] = found
    return values, errors


class _Solver:
    """Solves one plain dependant for a request: its arguments and the errors met, as
    FastAPI's solve_dependencies finds them. Each dependency is solved first (and not called
    when its own parameters have errors), then the path parameters, then the query's."""

    def __init__(self, dependant: Dependant) -> None:
        self.dependant = dependant
        self.subs = [_Solver(sub) for sub in dependant.dependencies]
        self.query = _scalars(dependant.query_params)

    async def __call__(self, request: Request) -> tuple[dict[str, Any], list[Any]]:
        dependant = self.dependant
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for sub in self.subs:
            sub_values, sub_errors = await sub(request)
            if sub_errors:
                errors.extend(sub_errors)
                continue
            call, name = sub.dependant.call, sub.dependant.name
            assert call is not None and name is not None  # checked by _plain
            values[name] = await call(**sub_values)
        if dependant.path_params:
            found, wrong = request_params_to_args(dependant.path_params, request.path_params)
            values.update(found)
            errors.extend(wrong)
        if dependant.query_params:
            if self.query is None:
                found, wrong = request_params_to_args(dependant.query_params, request.query_params)
            else:
                found, wrong = _read_query(self.query, request.query_params)
            values.update(found)
            errors.extend(wrong)
        if dependant.request_param_name:
            values[dependant.request_param_name] = request
        return values, errors


def plain_read(dependant: Dependant) -> Handler | None:
    """The lean handler of a plain read (see the module's docstring), or None when the
    route needs FastAPI's."""
    call = dependant.call
    if call is None or not _plain(dependant, set()) or not _returns_response(call):
        return None
    endpoint: Callable[..., Awaitable[Response]] = call
    solve = _Solver(dependant)

    async def handler(request: Request) -> Response:
        # Yield to the loop once before the work when the read will not. A read on SQLite
        # runs to its end without suspending (app/reads.py), and under uvloop, the event
        # loop uvicorn picks, the requests that arrived together were then not answered in
        # turn: some waited while later arrivals were served (uvloop issue 123). List of 50
        # on SQLite, answers not kept, 32 connections: p99 196-233 ms without this, 72-75 ms
        # with it, at the same requests/s (2026-12-06); the kept answers never come this far.
        # A read on PostgreSQL suspends while it waits for the database, which is turn enough.
        if not reader_of(request).suspends:
            await asyncio.sleep(0)
        values, errors = await solve(request)
        if errors:
            raise RequestValidationError(errors)
        return await endpoint(**values)

    return handler
