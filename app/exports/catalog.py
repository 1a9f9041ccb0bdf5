"""A DCAT catalogue of the plans, as JSON-LD, for CKAN's DCAT harvester and portals like it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from app.caching import cache_headers
from app.config import Settings
from app.db import SessionDep
from app.exports.bundle import licence_of
from app.exports.tables import EXPORTS
from app.fields import as_utc
from app.http import read_responses
from app.models import changes, plans
from app.wareki import period_label

router = APIRouter(tags=["exports"])

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
FORMATS = {"csv": "text/csv", "json": "application/json"}


@router.get(
    "/catalog",
    operation_id="get_catalog",
    responses={
        200: {"content": {"application/ld+json": {"schema": {"type": "object"}}}},
        **read_responses(),
    },
)
def get_catalog(request: Request, session: SessionDep) -> JSONResponse:
    """DCAT metadata of every plan: title, publisher, licence, modified, distributions."""
    headers = cache_headers(request, session)
    settings: Settings = request.app.state.settings
    modified = dict(
        session.execute(
            select(changes.c.entity_id, func.max(changes.c.at))
            .where(changes.c.entity == "plan")
            .group_by(changes.c.entity_id)
        ).all()
    )
    last_write = session.scalar(select(func.max(changes.c.at)))
    datasets = []
    for plan in session.execute(select(plans).order_by(plans.c.id)).mappings():
        licence = licence_of(dict(plan), settings.default_license, settings.default_license_url)
        stamps = [modified.get(plan["id"]), last_write, plan["updated_at"]]
        stamp = max(as_utc(moment) for moment in stamps if moment is not None)
        datasets.append(_dataset(request, dict(plan), licence["path"], stamp.isoformat()))
    body = {
        "@context": CONTEXT,
        "@type": "dcat:Catalog",
        "dct:title": "行政経営プランの取組状況 / Administrative management plans and progress",
        "dcat:dataset": datasets,
    }
    return JSONResponse(body, media_type="application/ld+json", headers=headers)


def _dataset(
    request: Request, plan: dict[str, Any], licence_url: str, modified: str
) -> dict[str, Any]:
    plan_id = plan["id"]
    distributions = [
        {
            "@type": "dcat:Distribution",
            "dct:title": f"{export.title} ({fmt.upper()})",
            "dcat:downloadURL": str(
                request.url_for("export_table", name=name, format=fmt).include_query_params(
                    plan_id=plan_id
                )
            ),
            "dcat:mediaType": media,
            "dct:license": licence_url,
        }
        for name, export in EXPORTS.items()
        for fmt, media in FORMATS.items()
    ]
    distributions.append(
        {
            "@type": "dcat:Distribution",
            "dct:title": "一括ダウンロード (ZIP, Frictionless Data Package)",
            "dcat:downloadURL": str(request.url_for("export_bundle", plan_id=plan_id)),
            "dcat:mediaType": "application/zip",
            "dct:license": licence_url,
        }
    )
    period = period_label(plan["start_fiscal_year"], plan["end_fiscal_year"])
    return {
        "@id": str(request.url_for("get_plan", plan_id=plan_id)),
        "@type": "dcat:Dataset",
        "dct:identifier": plan["slug"],
        "dct:title": f"{plan['municipality_name']} {plan['title']}（{period}）",
        "dct:description": plan["philosophy"] or plan["title"],
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": plan["municipality_name"]},
        "dct:spatial": plan["municipality_code"],
        "dct:license": licence_url,
        "dct:source": plan["source"],
        "dct:modified": {"@value": modified, "@type": "xsd:dateTime"},
        "dcat:keyword": ["行政経営", "行政改革", plan["municipality_name"]],
        "dcat:distribution": distributions,
    }
