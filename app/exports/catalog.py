"""A DCAT catalogue of the plans, as JSON-LD, for CKAN's DCAT harvester and portals like it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.config import Settings
from app.exports.bundle import licence_of
from app.exports.router import XLSX
from app.exports.service import last_writes, plans_in
from app.exports.tables import EXPORTS
from app.reads import reader_of
from app.wareki import period_label
from app.web.caching import read_cache_headers
from app.web.http import read_responses
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(tags=["exports"], route_class=StrictJsonRoute)

# Terms whose values are IRIs (links a harvester follows), not strings: "@type": "@id".
_IRI = {"@type": "@id"}
CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcat:downloadURL": _IRI,
    "dcat:accessURL": _IRI,
    "dcat:mediaType": _IRI,
    "dct:format": _IRI,
    "dct:license": _IRI,
    "foaf:homepage": _IRI,
}
# Media types as IANA's IRIs, and formats from the EU file-type vocabulary (as DCAT-AP,
# which CKAN's DCAT harvester reads, names them).
IANA = "http://www.iana.org/assignments/media-types/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
FORMATS = {  # format in the URL: (media type, file type, what the title calls it)
    "csv": ("text/csv", "CSV", "CSV"),
    "json": ("application/json", "JSON", "JSON"),
    "xlsx": (XLSX, "XLSX", "Excel"),
}
CATALOG_DESCRIPTION = (
    "地方公共団体の行政経営プラン（基本方針・施策・取組事項）と年度ごとの取組状況の評価を、"
    "CSV・JSON・Excel と Frictionless Data Package で公開するオープンデータの目録。"
    " / Open data on local governments' administrative management plans (policies, measures,"
    " initiatives) and the yearly evaluation of their progress, as CSV, JSON, Excel and"
    " Frictionless Data Packages."
)


@router.get(
    "/catalog",
    operation_id="get_catalog",
    responses={
        200: {"content": {"application/ld+json": {"schema": {"type": "object"}}}},
        **read_responses(),
    },
)
async def get_catalog(request: Request) -> JSONResponse:
    """DCAT metadata of every plan: title, publisher, licence, modified, distributions."""
    reader = reader_of(request)
    headers = await read_cache_headers(request, reader)
    settings: Settings = request.app.state.settings
    modified, last_write = await last_writes(reader)
    datasets = []
    for plan in await plans_in(reader, None):
        licence = licence_of(plan, settings.default_license, settings.default_license_url)
        stamps = [modified.get(plan["id"]), last_write, plan["updated_at"]]
        stamp = max(moment for moment in stamps if moment is not None)
        datasets.append(_dataset(request, plan, licence["path"], stamp.isoformat(), settings))
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": str(request.url_for("get_catalog")),
        "@type": "dcat:Catalog",
        "dct:title": "行政経営プランの取組状況 / Administrative management plans and progress",
        "dct:description": CATALOG_DESCRIPTION,
    }
    publisher = _publisher(settings)
    if publisher:
        body["dct:publisher"] = publisher
    body["dcat:dataset"] = datasets
    return JSONResponse(body, media_type="application/ld+json", headers=headers)


def _publisher(settings: Settings) -> dict[str, Any] | None:
    """The operator of this service, who publishes the catalogue (not a plan's city): named
    by settings, and left out when they name no one."""
    if not settings.publisher_name:
        return None
    publisher: dict[str, Any] = {"@type": "foaf:Agent", "foaf:name": settings.publisher_name}
    if settings.publisher_url:
        publisher["foaf:homepage"] = settings.publisher_url
    return publisher


def _distribution(title: str, url: str, media: str, file_type: str, licence: str) -> dict[str, Any]:
    return {
        "@type": "dcat:Distribution",
        "dct:title": title,
        "dcat:accessURL": url,  # a direct download: the access is the file itself
        "dcat:downloadURL": url,
        "dcat:mediaType": IANA + media,
        "dct:format": FILE_TYPE + file_type,
        **_licence(licence),
    }


def _licence(url: str) -> dict[str, str]:
    # An empty IRI would mean this document itself: a licence without a URL is left out.
    return {"dct:license": url} if url else {}


def _keywords(plan: dict[str, Any], settings: Settings) -> list[str]:
    """The plan's own words (its title, its city), then the operator's: nothing the data does
    not say or the operator did not set."""
    configured = [word.strip() for word in settings.catalog_keywords.split(",")]
    words = [plan["title"], plan["municipality_name"], *configured]
    return list(dict.fromkeys(word for word in words if word))


def _dataset(
    request: Request,
    plan: dict[str, Any],
    licence_url: str,
    modified: str,
    settings: Settings,
) -> dict[str, Any]:
    plan_id = plan["id"]
    distributions = [
        _distribution(
            f"{export.title} ({label})",
            str(
                request.url_for("export_table", name=name, format=fmt).include_query_params(
                    plan_id=plan_id
                )
            ),
            media,
            file_type,
            licence_url,
        )
        for name, export in EXPORTS.items()
        for fmt, (media, file_type, label) in FORMATS.items()
    ]
    distributions.append(
        _distribution(
            "一括ダウンロード (ZIP, Frictionless Data Package)",
            str(request.url_for("export_bundle", plan_id=plan_id)),
            "application/zip",
            "ZIP",
            licence_url,
        )
    )
    period = period_label(plan["start_fiscal_year"], plan["end_fiscal_year"])
    # The publisher of a dataset here is this service's operator, as of the catalogue: the
    # city publishes its document, not this data; its name is in the title and dct:spatial.
    publisher = _publisher(settings)
    return {
        "@id": str(request.url_for("get_plan", plan_id=plan_id)),
        "@type": "dcat:Dataset",
        "dct:identifier": plan["slug"],
        "dct:title": f"{plan['municipality_name']} {plan['title']}（{period}）",
        "dct:description": plan["philosophy"] or plan["title"],
        **({"dct:publisher": publisher} if publisher else {}),
        "dct:spatial": plan["municipality_code"],
        **_licence(licence_url),
        "dct:source": plan["source"],
        "dct:modified": {"@value": modified, "@type": "xsd:dateTime"},
        "dcat:keyword": _keywords(plan, settings),
        "dcat:distribution": distributions,
    }
