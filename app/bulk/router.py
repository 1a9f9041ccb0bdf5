"""POST /bulk/initiatives and /bulk/evaluations: all-or-nothing upserts for staff scripts."""

from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel
from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from app.auth.tokens import EditorDep
from app.bulk import idempotency
from app.bulk.evaluations import plan_evaluations
from app.bulk.initiatives import plan_initiatives
from app.bulk.messages import translator, wants_japanese
from app.bulk.parse import XLSX, parse_csv, parse_json, parse_xlsx
from app.bulk.schemas import (
    BulkResult,
    EvaluationItems,
    EvaluationRow,
    InitiativeItems,
    InitiativeRow,
)
from app.bulk.service import Planner, upload
from app.db import SessionDep
from app.errors import InvalidInput, UnsupportedMediaType
from app.exports.csv import Column
from app.exports.tables import EXPORTS
from app.web.http import IdFilter, write_responses
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/bulk", tags=["bulk"], route_class=StrictJsonRoute)


@dataclass(frozen=True)
class Upload:
    """What a bulk request sends: the file's bytes and its media type (with its charset)."""

    content: bytes
    media: str
    charset: str | None


KINDS = {".csv": "text/csv", ".xlsx": XLSX, ".json": "application/json"}


async def upload_of(request: Request) -> Upload:
    """The body itself, or, from an HTML form (multipart/form-data), its one file: its kind
    from its name's extension, else from its own Content-Type."""
    media, charset = _media(request.headers.get("content-type", ""))
    body = await request.body()
    if media != "multipart/form-data":
        return Upload(body, media, charset)
    text = translator(wants_japanese(request.headers.get("accept-language")))
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as error:  # Starlette's 400 for a form it cannot parse
        raise InvalidInput.at(["body"], f"{text('form_file')}: {error.detail}") from None
    try:
        files = [value for value in form.values() if isinstance(value, UploadFile)]
        if len(files) != 1:
            raise InvalidInput.at(["body"], text("form_file"))
        (file,) = files
        name = file.filename or ""
        part_media, part_charset = _media(file.content_type or "")
        kind = KINDS.get(PurePath(name).suffix.lower()) or (
            part_media if part_media in KINDS.values() else None
        )
        if kind is None:
            raise UnsupportedMediaType(text("form_kind", name=name, media=part_media or "no type"))
        content = await file.read()
    finally:
        await form.close()
    return Upload(content, kind, part_charset if kind == part_media else None)


def _media(content_type: str) -> tuple[str, str | None]:
    media, _, params = content_type.partition(";")
    charset = next(
        (p.split("=", 1)[1] for p in params.split(";") if p.strip().startswith("charset=")),
        None,
    )
    return media.strip().lower(), charset


UploadDep = Annotated[Upload, Depends(upload_of)]
DryRun = Annotated[
    bool, Query(description="Validate and answer exactly as for real, writing nothing.")
]
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes a retry safe: the same key and body replay the first answer"
        " (409 while the first is still running).",
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
                XLSX: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": f"The workbook /export/{table}.xlsx gives, edited:"
                        " the first sheet, its header in row 1.",
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "A .csv, .xlsx or .json file, as above.",
                            }
                        },
                        "required": ["file"],
                    },
                    "encoding": {"file": {"contentType": f"text/csv, {XLSX}, application/json"}},
                },
            },
        }
    }


# A bulk upload's 409: its Idempotency-Key's first upload is still running.
RESPONSES = write_responses(
    404,
    409,
    415,
    slugs={409: idempotency.KeyInUse.slug},
    details={409: idempotency.KEY_IN_USE},
)
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
    sent: Upload,
    plan_id: int | None,
    dry_run: bool,
    key: str | None,
    columns: list[Column],
    planner: Planner,
    row: type[BaseModel],
) -> Response:
    japanese = wants_japanese(request.headers.get("accept-language"))
    text = translator(japanese)
    if sent.media == "application/json":
        raws = parse_json(sent.content, text)
    elif sent.media == "text/csv":
        raws = parse_csv(sent.content, sent.charset, columns, text)
    elif sent.media == XLSX:
        raws = parse_xlsx(sent.content, columns, text)
    else:
        raise UnsupportedMediaType(
            'send application/json ({"items": [...]}), text/csv, an .xlsx workbook'
            f" ({XLSX}) or a form with the file (multipart/form-data)"
        )
    idem: idempotency.Key | None = None
    if key is not None and not dry_run:
        # The file and its kind, not the form around it: a retried form upload has a new
        # boundary but the same file.
        path, query = request.url.path, request.url.query
        kind = sent.media + (f"; charset={sent.charset}" if sent.charset else "")
        idem = idempotency.key_of(key, actor, path, query, sent.content, kind)
    answer, status = upload(
        session,
        actor=actor,
        plan_id=plan_id,
        raws=raws,
        planner=planner,
        row=row,
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
    sent: UploadDep,
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
        sent,
        plan_id,
        dry_run,
        idempotency_key,
        columns,
        plan_initiatives,
        InitiativeRow,
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
    sent: UploadDep,
    plan_id: IdFilter = None,
    dry_run: DryRun = False,
    idempotency_key: KeyHeader = None,
) -> Response:
    """Create or update up to 10,000 evaluations by code and fiscal year, all or nothing."""
    return _run(
        request,
        session,
        actor.name,
        sent,
        plan_id,
        dry_run,
        idempotency_key,
        EXPORTS["evaluations"].columns,
        plan_evaluations,
        EvaluationRow,
    )
