"""An upload, all or nothing: the claim on its Idempotency-Key and the write lock, an earlier
answer to the same key, the rows planned against the database, written, logged and committed
with the key."""

from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session

from app.bulk import idempotency
from app.bulk.common import CHUNK, PlanContext, Problems, Writes, among
from app.bulk.messages import Text
from app.bulk.parse import RawRow
from app.bulk.schemas import BulkResult, RowOutcome
from app.errors import NotFound
from app.models import initiatives, utcnow
from app.plans.service import resolve_plan
from app.web.monitoring import BULK_ROWS
from app.writes import hold_write_lock

Planner = Callable[
    [Session, PlanContext, list[RawRow], Problems], tuple[list[RowOutcome], Writes, set[int]]
]


def _plan_of_valid_rows(
    session: Session,
    plan_id: int | None,
    raws: list[RawRow],
    row: type[BaseModel],
    problems: Problems,
) -> PlanContext:
    """The upload's plan. When it does not exist, rows that break their schema are named
    first: API.md's order is validation (422), then state (404)."""
    try:
        return _plan(session, plan_id)
    except NotFound:
        for raw in raws:
            problems.validate(row, raw)
        problems.raise_if_any()
        raise


def _plan(session: Session, plan_id: int | None) -> PlanContext:
    row = resolve_plan(session, plan_id)
    return PlanContext(
        id=row.id,
        slug=row.slug,
        municipality_code=row.municipality_code,
        municipality_name=row.municipality_name,
        start_fiscal_year=row.start_fiscal_year,
        end_fiscal_year=row.end_fiscal_year,
    )


def upload(
    session: Session,
    *,
    actor: str,
    plan_id: int | None,
    raws: list[RawRow],
    planner: Planner,
    row: type[BaseModel],
    text: Text,
    japanese: bool,
    dry_run: bool,
    idem: idempotency.Key | None,
) -> tuple[str | bytes, int]:
    """The answer's JSON and status: what was (or, dry, would be) written, row by row."""
    try:
        # Dry, nothing is written and no key is kept: no write lock, no claim on the key.
        with nullcontext() if dry_run else idempotency.writing(session, idem):
            if not dry_run:
                # Take the write lock first, so that what is read below cannot change before
                # the writes: BEGIN IMMEDIATE on SQLite (idempotency.writing); on PostgreSQL,
                # the data_version row's lock, which every writer takes first
                # (app/changes/recorder.py, lock_version). The version itself moves on only
                # if something is written. An upload with the same Idempotency-Key that ran
                # before this one (its claim on the key is gone) left its answer: replay it.
                hold_write_lock(session)
                if idem is not None and (earlier := idempotency.earlier_answer(session, idem)):
                    session.rollback()
                    return earlier.body, earlier.status
            plan = _plan_of_valid_rows(session, plan_id, raws, row, Problems(text, japanese))
            outcomes, writes, touched = planner(session, plan, raws, Problems(text, japanese))
            result = BulkResult(
                dry_run=dry_run,
                created=sum(1 for row in outcomes if row.action == "created"),
                updated=sum(1 for row in outcomes if row.action == "updated"),
                unchanged=sum(1 for row in outcomes if row.action == "unchanged"),
                rows=outcomes,
            )
            answer = result.model_dump_json(exclude_none=True)
            if not dry_run:
                now = utcnow()
                writes.apply(session, actor, now, text)
                _touch_initiatives(session, touched, now)
                if idem is not None:
                    idempotency.keep(session, idem, 200, answer)
                session.commit()
                for action in ("created", "updated"):
                    BULK_ROWS.labels(writes.entity, action).inc(getattr(result, action))
    except BaseException:
        session.rollback()
        raise
    return answer, 200


def _touch_initiatives(session: Session, ids: set[int], now: datetime) -> None:
    """An initiative shows its latest evaluation: writing evaluations moves its version on."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        session.execute(
            update(initiatives)
            .where(among(session, [initiatives.c.id], ordered[start : start + CHUNK]))
            .values(version=initiatives.c.version + 1, updated_at=now)
        )
