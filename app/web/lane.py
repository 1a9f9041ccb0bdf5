"""Plain reads, routed without the framework's walk.

FastAPI finds a request's route by walking its routes, included router after included
router, and for each included router it works out again whether its routes have changed and
tries them twice (once to learn whether the router matches, once to pick the route). Then
it wraps the route's handler in an exception layer, two exit stacks and an ASGI adapter.
For a plain read (app/web/plainread.py: a GET whose parameters are in its path and query
and whose endpoint returns the Response) none of that does anything but cost: taking it
away saved GET of one initiative on PostgreSQL, answers not kept, some 15% of its
instructions (callgrind, 2026-12-07; bench/README.md).

PlainReadLane, the innermost middleware, routes a GET itself. It keeps FastAPI's routes
flattened in FastAPI's own order (made once, at the first request, from FastAPI's own
records of each included route: its full path, pattern, converters and methods) and takes
the first route that matches the path fully, as FastAPI's walk would. When that route is
a plain read, the lane runs it as FastAPI would, with the same additions to the scope (the
route, its endpoint and path parameters, the router) and the same exception handlers, those
of Starlette's ExceptionMiddleware, the next layer. Anything else goes on to FastAPI
unchanged: any other method or route, a path the lane matches to nothing, a route that is
not FastAPI's (a mount matches by its prefix, so the lane stops at one and lets FastAPI
decide), while `app.dependency_overrides` holds anything, and with OpenTelemetry on, whose
spans FastAPI names as it routes.

tests/test_lane.py checks, for every GET route, that the lane picks the route FastAPI picks
and answers what FastAPI's handler answers.
"""

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, _IncludedRouter
from starlette._utils import get_route_path
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.web.jsonbody import StrictJsonRoute


@dataclass(frozen=True)
class _Route:
    """One of FastAPI's routes as its walk sees it."""

    prefix: str  # the path up to its first parameter: a path not starting so cannot match
    pattern: re.Pattern[str] | None  # None: not an API route; `route.matches` decides
    convertors: dict[str, Any]
    methods: frozenset[str]
    route: BaseRoute
    plain: StrictJsonRoute | None  # the route, when it is a plain read
    endpoint: Callable[..., Any] | None = None  # a plain read's, as FastAPI puts in the scope

    def matches(self, scope: Scope, path: str) -> tuple[Match, dict[str, Any]]:
        """FastAPI's verdict on this route for a GET of path (Match.PARTIAL: the path is
        the route's but GET is not among its methods), and its path parameters."""
        if not path.startswith(self.prefix):
            return Match.NONE, {}
        if self.pattern is None:
            return self.route.matches(scope)[0], {}
        found = self.pattern.match(path)
        if found is None:
            return Match.NONE, {}
        if "GET" not in self.methods:
            return Match.PARTIAL, {}
        converted = {
            name: self.convertors[name].convert(value) for name, value in found.groupdict().items()
        }
        return Match.FULL, converted


def _flattened(app: FastAPI) -> Iterator[_Route]:
    """The app's routes in the order FastAPI tries them."""
    for route in app.router.routes:
        if not isinstance(route, _IncludedRouter):
            yield _Route("", None, {}, frozenset(), route, None)
            continue
        for context in route.effective_route_contexts():
            original = context.original_route
            if not isinstance(original, APIRoute):
                yield _Route("", None, {}, frozenset(), context.starlette_route or original, None)
                continue
            path: str = context.path
            prefix = path[: path.index("{")] if "{" in path else path
            plain = original if isinstance(original, StrictJsonRoute) and original.plain else None
            yield _Route(
                prefix,
                context.path_regex,
                context.param_convertors,
                frozenset(context.methods or ()),
                original,
                plain,
                context.endpoint,
            )


class PlainReadLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes: list[_Route] | None = None  # made at the first request
        self.handlers: tuple[Any, Any] | None = None  # ExceptionMiddleware's

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["method"] != "GET" or "fastapi.telemetry" in scope:
            return self.app(scope, receive, send)
        app: FastAPI = scope["app"]
        if self.routes is None:
            self._learn(app)
        if self.handlers is None or app.dependency_overrides:
            return self.app(scope, receive, send)
        path = get_route_path(scope)
        for entry in self.routes or ():
            match, parameters = entry.matches(scope, path)
            if match is Match.FULL:
                if entry.plain is None:
                    break  # not a plain read: FastAPI's
                scope.setdefault("router", app.router)
                scope["endpoint"] = entry.endpoint
                scope["path_params"] = {**scope.get("path_params", {}), **parameters}
                scope["route"] = entry.plain
                scope["starlette.exception_handlers"] = self.handlers
                return entry.plain.answer_plain(scope, receive, send)
        return self.app(scope, receive, send)

    def _learn(self, app: FastAPI) -> None:
        """Flatten the app's routes, and take the exception handlers of the layer below,
        which must be Starlette's ExceptionMiddleware (FastAPI puts it right after the
        app's own middlewares); if it is not, the lane stays out of the way."""
        self.routes = list(_flattened(app))
        if isinstance(self.app, ExceptionMiddleware):
            self.handlers = (self.app._exception_handlers, self.app._status_handlers)
