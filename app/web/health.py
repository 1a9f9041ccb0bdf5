"""Liveness and readiness probes."""

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.errors import ServiceUnavailable, problem_responses
from app.migrate import current_revision
from app.reads import PING, reader_of

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(Health):
    database: str
    revision: str | None


@router.get("/healthz", operation_id="healthz")
async def healthz() -> Health:
    """Answer 200 while the process is alive."""
    return Health(status="ok")


@router.get("/readyz", operation_id="readyz", responses=problem_responses(503))
async def readyz(request: Request) -> Readiness:
    """Answer 200 when the database is reachable and at the latest migration.

    The database must answer within DB_CONNECT_TIMEOUT: a probe is asked often and acted on,
    so a database that went silent (frozen, behind a hung proxy) is a prompt 503, not a
    probe that hangs with the requests it should warn of."""
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    try:
        await reader_of(request).probe(PING, settings.db_connect_timeout)
        revision = await run_in_threadpool(current_revision, engine)
    except Exception as error:
        raise ServiceUnavailable("the database is not reachable") from error
    expected = request.app.state.head_revision
    if revision != expected:
        raise ServiceUnavailable(
            f"the database is at migration {revision}, not {expected}: run `python -m app migrate`"
        )
    return Readiness(status="ok", database=engine.dialect.name, revision=revision)
