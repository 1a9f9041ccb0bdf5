"""POST /plans/import: a plan's bundle, from this instance or another, loaded whole."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.tokens import AdminDep
from app.bundles.load import import_bundle
from app.db import SessionDep
from app.errors import ErrorDetail, InvalidInput, UnsupportedMediaType
from app.plans import service
from app.plans.schemas import PlanPublic
from app.seed import PlanFileError
from app.web.http import write_responses, written
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/plans", tags=["plans"], route_class=StrictJsonRoute)
ZIP_TYPES = ("application/zip", "application/x-zip-compressed")


async def raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/import",
    operation_id="import_plan",
    status_code=201,
    response_model=PlanPublic,
    responses=write_responses(403, 409, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/zip": {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "A plan's bundle as /export/plans/{plan_id}.zip gives it.",
                    }
                }
            },
        }
    },
)
def import_plan(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: AdminDep,
    body: Annotated[bytes, Depends(raw_body)],
    replace: Annotated[
        bool,
        Query(description="A plan with the bundle's slug is deleted first (else 409)."),
    ] = False,
) -> PlanPublic:
    """Load a plan's bundle (another instance's, or a backup) whole: the plan, its policies,
    measures, initiatives, evaluations and published figures, all or nothing."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in ZIP_TYPES:
        raise UnsupportedMediaType("send the bundle as application/zip")
    try:
        plan_id, _ = import_bundle(
            session, body, source="bundle", actor=actor.name, replace=replace
        )
    except PlanFileError as error:
        details = [
            ErrorDetail(loc=["body"], msg=problem, type="value_error") for problem in error.problems
        ]
        raise InvalidInput(str(error), errors=details) from None
    plan = service.get_plan(session=session, plan_id=plan_id)
    written(response, plan, str(request.url_for("get_plan", plan_id=plan_id)))
    return plan
