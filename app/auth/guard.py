"""Who may write: bearer tokens are checked before the body is parsed, roles per route.

The API contract orders the checks: body size (413), then authentication and role (401/403), then
validation (422). FastAPI parses a JSON body before it runs any dependency, so
authentication happens in this middleware, in front of the router; the role, which depends
on the route, is checked by a dependency (only plan deletion needs more than `editor`,
and a DELETE has no body to fail on first).
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.tokens import Actor, Role, find_actor
from app.db import SessionDep, begin_write
from app.errors import TOO_MANY_REQUESTS, UNAUTHORIZED, Forbidden, problem_response
from app.web.methods import is_api_write
from app.web.ratelimit import WriteRateLimit

# A refused write's body is never read (it may be large, or never come): the connection is
# closed after the answer rather than kept for a body nobody will read.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="plan-progress"', "Connection": "close"}


class BearerAuthMiddleware:
    """Reject writes to the API without a valid token (401) and remember who wrote."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_api_write(scope, self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            detail = "writes need a token: send `Authorization: Bearer <token>`"
            await problem_response(401, detail, slug=UNAUTHORIZED, headers=CHALLENGE)(
                scope, receive, send
            )
            return
        actor = await run_in_threadpool(_lookup, request.app.state.engine, secret.strip())
        if actor is None:
            detail = "the token is unknown, expired or revoked"
            await problem_response(
                401, detail, slug=UNAUTHORIZED, headers=CHALLENGE | {"Cache-Control": "no-store"}
            )(scope, receive, send)
            return
        limit: WriteRateLimit | None = request.app.state.write_limit
        wait = 0 if limit is None else limit.wait(actor.name)
        if wait:
            detail = f"token {actor.name!r} is writing faster than this server allows: retry later"
            await problem_response(
                429,
                detail,
                slug=TOO_MANY_REQUESTS,
                headers={"Retry-After": str(wait), "Connection": "close"},
            )(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


def _lookup(engine: object, secret: str) -> Actor | None:
    with Session(engine) as session:  # type: ignore[arg-type]
        return find_actor(session, secret)


def _actor(request: Request) -> Actor:
    actor = getattr(request.state, "actor", None)
    if not isinstance(actor, Actor):  # only reachable if a write route sits outside the prefix
        raise RuntimeError("a write route was reached without BearerAuthMiddleware")
    return actor


async def require_editor(request: Request) -> Actor:
    return _actor(request)


async def require_admin(request: Request) -> Actor:
    actor = _actor(request)
    if not actor.may(Role.admin):
        raise Forbidden(f"token {actor.name!r} has role {actor.role}; this needs admin")
    return actor


EditorDep = Annotated[Actor, Depends(require_editor)]
AdminDep = Annotated[Actor, Depends(require_admin)]


def editor_session(session: SessionDep, actor: EditorDep) -> Session:
    """The request's session, begun as a writer, with its name for the change log."""
    session.info["actor"] = actor.name
    begin_write(session)
    return session


def admin_session(session: SessionDep, actor: AdminDep) -> Session:
    session.info["actor"] = actor.name
    begin_write(session)
    return session


EditorSession = Annotated[Session, Depends(editor_session)]
AdminSession = Annotated[Session, Depends(admin_session)]
