"""POST /bulk/initiatives and /bulk/evaluations: all-or-nothing upserts for staff scripts."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import select, update
from sqlmodel import Session

from app.auth.guard import EditorDep
from app.bulk import idempotency
from app.bulk.common import PlanContext, Problems, Writes
from app.bulk.evaluations import plan_evaluations
from app.bulk.initiatives import plan_initiatives
from app.bulk.messages import translator, wants_japanese
from app.bulk.parse import RawRow, parse_csv, parse_json
from app.bulk.schemas import BulkResult, EvaluationItems, InitiativeItems, RowOutcome
from app.db import SessionDep, begin_write
from app.errors import UnsupportedMediaType
from app.exports.csv import Column
from app.exports.tables import EXPORTS
from app.models import data_version, initiatives, utcnow
from app.plans.service import resolve_plan
from app.web.http import IdFilter, write_responses
from app.web.jsonbody import StrictJsonRoute
from app.web.metrics import BULK_ROWS

router = APIRouter(prefix="/bulk", tags=["bulk"], route_class=StrictJsonRoute)


async def raw_body(request: Request) -> bytes:
    return await request.body()


BodyDep = Annotated[bytes, Depends(raw_body)]
DryRun = Annotated[
    bool, Query(description="Validate and answer exactly as for real, writing nothing.")
]
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes a retry safe: the same key and body replay the first answer.",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
    ),
]
IMPORT_ONLY = [Column("measure_id", "施策ID", "integer", "施策ID（取込のみ）", "Measure id")]
Planner = Callable[
    [Session, PlanContext, list[RawRow], Problems], tuple[list[RowOutcome], Writes, set[int]]
]


def _body_doc(items: type[Any], table: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{items.__name__}"}},
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": CSV_EXAMPLES[table],
                },
            },
        }
    }


RESPONSES = write_responses(404, 409, 415)
# The export's columns, Japanese or English headers; a column left out stays as it is.
CSV_EXAMPLES = {
    "initiatives": "取組番号,基本方針番号,施策番号,取組事項,掲載ページ\r\n"
    "R7-1,1,1,避難所の入退所等に活用できるデジタル市民パスポートの導入,38\r\n",
    "evaluations": "取組番号,年度,評価,実績\r\nR7-1,令和7年度,達成,避難所受付での運用を開始\r\n",
}


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


def _run(
    request: Request,
    session: Session,
    actor: str,
    body: bytes,
    plan_id: int | None,
    dry_run: bool,
    key: str | None,
    columns: list[Column],
    planner: Planner,
) -> Response:
    japanese = wants_japanese(request.headers.get("accept-language"))
    text = translator(japanese)
    content_type = request.headers.get("content-type", "")
    media, _, params = content_type.partition(";")
    if media.strip() == "application/json":
        raws = parse_json(body, text)
    elif media.strip() == "text/csv":
        charset = next(
            (p.split("=", 1)[1] for p in params.split(";") if p.strip().startswith("charset=")),
            None,
        )
        raws = parse_csv(body, charset, columns, text)
    else:
        raise UnsupportedMediaType('send application/json ({"items": [...]}) or text/csv')
    idem: idempotency.Key | None = None
    if key is not None and not dry_run:
        path, query = request.url.path, request.url.query
        idem = idempotency.key_of(key, actor, path, query, body, content_type)
    try:
        if not dry_run:
            # Take the write lock first, so that what is read below cannot change before the
            # writes: BEGIN IMMEDIATE on SQLite; on PostgreSQL, the data_version row's lock,
            # which every writer takes first (app/changes/recorder.py, lock_version). The
            # version itself moves on only if something is written. An upload with the same
            # Idempotency-Key that is still running holds it: this one waits, then replays.
            begin_write(session)
            session.execute(select(data_version.c.version).with_for_update())
            if idem is not None and (earlier := idempotency.earlier_answer(session, idem)):
                session.rollback()
                return Response(earlier.body, earlier.status, media_type="application/json")
        plan = _plan(session, plan_id)
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
    return Response(answer, media_type="application/json")


def _touch_initiatives(session: Session, ids: set[int], now: datetime) -> None:
    """An initiative shows its latest evaluation: writing evaluations moves its version on."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), 1000):
        session.execute(
            update(initiatives)
            .where(initiatives.c.id.in_(ordered[start : start + 1000]))
            .values(version=initiatives.c.version + 1, updated_at=now)
        )


@router.post(
    "/initiatives",
    operation_id="bulk_initiatives",
    response_model=BulkResult,
    responses=RESPONSES,
    openapi_extra=_body_doc(InitiativeItems, "initiatives"),
)
def bulk_initiatives(
    request: Request,
    session: SessionDep,
    actor: EditorDep,
    body: BodyDep,
    plan_id: IdFilter = None,
    dry_run: DryRun = False,
    idempotency_key: KeyHeader = None,
) -> Response:
    """Create or update up to 10,000 initiatives by code, all or nothing."""
    columns = EXPORTS["initiatives"].columns + IMPORT_ONLY
    return _run(
        request,
        session,
        actor.name,
        body,
        plan_id,
        dry_run,
        idempotency_key,
        columns,
        plan_initiatives,
    )


@router.post(
    "/evaluations",
    operation_id="bulk_evaluations",
    response_model=BulkResult,
    responses=RESPONSES,
    openapi_extra=_body_doc(EvaluationItems, "evaluations"),
)
def bulk_evaluations(
    request: Request,
    session: SessionDep,
    actor: EditorDep,
    body: BodyDep,
    plan_id: IdFilter = None,
    dry_run: DryRun = False,
    idempotency_key: KeyHeader = None,
) -> Response:
    """Create or update up to 10,000 evaluations by code and fiscal year, all or nothing."""
    return _run(
        request,
        session,
        actor.name,
        body,
        plan_id,
        dry_run,
        idempotency_key,
        EXPORTS["evaluations"].columns,
        plan_evaluations,
    )
