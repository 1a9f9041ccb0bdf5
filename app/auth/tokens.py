"""API tokens: made by the CLI, shown once, stored as a SHA-256 digest, and checked on every
write before its body is read (BearerAuthMiddleware), with the role each route needs.
"""

import hashlib
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select, update
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db import SessionDep, begin_write
from app.errors import TOO_MANY_REQUESTS, UNAUTHORIZED, Forbidden, problem_response
from app.fields import as_utc
from app.models import ApiToken, api_tokens, utcnow
from app.web.edge import is_api_write
from app.web.ratelimit import WriteRateLimit

# ---------------------------------------------------------------------------------------------
# API tokens: made by the CLI, shown once, stored as a SHA-256 digest, looked up by it.
#
# The secret is 256 random bits, so a fast digest is enough: there is nothing to brute-force,
# and equal digests can be found with an index instead of comparing every row.

PREFIX = "ppa_"


class Role(StrEnum):
    editor = "editor"  # create, update and delete content; bulk uploads
    admin = "admin"  # also delete plans


@dataclass(frozen=True)
class Actor:
    """Who is writing: the token's name goes into the change log, never the secret."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return self.role is Role.admin or role is Role.editor


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenNameTaken(ValueError):
    pass


def create_token(
    session: Session, *, name: str, role: Role, expires_at: datetime | None = None
) -> str:
    """Store a new token and return its secret, which is not kept anywhere. A name is
    taken while a token of that name is in force (not revoked; an expired one still is,
    until revoked)."""
    in_force = select(api_tokens.c.id).where(
        api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None)
    )
    if session.scalar(in_force) is not None:
        raise TokenNameTaken(
            f"a token named {name!r} is in force; revoke it first to give the name again"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    # Stored in UTC, as every timestamp is: SQLite keeps the clock as given, so 09:00+09:00
    # kept as such would read back as 09:00 UTC, nine hours later than meant.
    expires_at = None if expires_at is None else as_utc(expires_at)
    session.add(ApiToken(name=name, role=role.value, digest=digest(secret), expires_at=expires_at))
    session.commit()
    return secret


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, *, name: str) -> bool:
    """Revoke the token called name; return whether there was one still in force."""
    result = session.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), version=api_tokens.c.version + 1, updated_at=utcnow())
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def find_actor(session: Session, secret: str) -> Actor | None:
    """Return who holds this secret, or None when it is unknown, expired or revoked."""
    row = session.execute(
        select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.expires_at).where(
            api_tokens.c.digest == digest(secret), api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    expires_at = row.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:  # SQLite gives naive datetimes back; they are UTC
            expires_at = expires_at.replace(tzinfo=utcnow().tzinfo)
        if expires_at <= utcnow():
            return None
    return Actor(name=row.name, role=Role(row.role))


# ---------------------------------------------------------------------------------------------
# Who may write: bearer tokens are checked before the body is parsed, roles per route.
#
# The API contract orders the checks: body size (413), then authentication and role (401/403), then
# validation (422). FastAPI parses a JSON body before it runs any dependency, so
# authentication happens in this middleware, in front of the router; the role, which depends
# on the route, is checked by a dependency (only plan deletion needs more than `editor`,
# and a DELETE has no body to fail on first).

# A refused write's body is never read (it may be large, or never come): the connection is
# closed after the answer rather than kept for a body nobody will read.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="plan-progress"', "Connection": "close"}


class BearerAuthMiddleware:
    """Reject writes to the API without a valid token (401) and remember who wrote."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function for reads, as app/web/edge.py's HttpMiddleware says why.
        if not is_api_write(scope, self.prefix):
            return self.app(scope, receive, send)
        return self.write(scope, receive, send)

    async def write(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A write: its token, then the rate of its writes."""
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
