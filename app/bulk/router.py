"""POST /bulk/initiatives and /bulk/evaluations: all-or-nothing upserts for staff scripts."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlmodel import Session

from app.auth.tokens import EditorDep
from app.bulk import idempotency
from app.bulk.evaluations import plan_evaluations
from app.bulk.initiatives import plan_initiatives
from app.bulk.messages import translator, wants_japanese
from app.bulk.parse import parse_csv, parse_json
from app.bulk.schemas import BulkResult, EvaluationItems, InitiativeItems
from app.bulk.service import Planner, upload
from app.db import SessionDep
from app.errors import UnsupportedMediaType
from app.exports.csv import Column
from app.exports.tables import EXPORTS
from app.web.http import IdFilter, write_responses
from app.web.jsonbody import StrictJsonRoute

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
    answer, status = upload(
        session,
        actor=actor,
        plan_id=plan_id,
        raws=raws,
        planner=planner,
        text=text,
        japanese=japanese,
        dry_run=dry_run,
        idem=idem,
    )
    return Response(answer, status, media_type="application/json")


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
