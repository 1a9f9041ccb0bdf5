"""Liveness and readiness probes."""

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import Engine, text

from app.errors import ServiceUnavailable, problem_responses
from app.migrate import current_revision

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
def readyz(request: Request) -> Readiness:
    """Answer 200 when the database is reachable and at the latest migration."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except Exception as error:
        raise ServiceUnavailable("the database is not reachable") from error
    expected = request.app.state.head_revision
    if revision != expected:
        raise ServiceUnavailable(
            f"the database is at migration {revision}, not {expected}: run `python -m app migrate`"
        )
    return Readiness(status="ok", database=engine.dialect.name, revision=revision)
