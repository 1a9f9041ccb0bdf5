from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from app import declare
from app.fields import (
    FiscalYear,
    MunicipalityCode,
    Name,
    Narrative,
    Note,
    Slug,
    Title,
    Url,
)
from app.listing import Record
from app.models import plans
from app.provenance import (
    DESCRIPTION,
    PLAN_FACTS,
    PLAN_FACTS_EXAMPLE,
    PlanFacts,
    Provenance,
)

PLAN_EXAMPLE: JsonDict = {
    "id": 1,
    "slug": "kanazawa-2023-2026",
    "title": "金沢市行政経営プラン",
    "municipality_code": "172014",
    "municipality_name": "金沢市",
    "philosophy": "質の高い市民サービスを創り続ける行政経営の実践",
    "start_fiscal_year": 2023,
    "end_fiscal_year": 2026,
    "period_label": "令和5年度～令和8年度",
    "source": "金沢市「金沢市行政経営プランの取組状況等について」",
    "license": "CC-BY-4.0",
    "license_url": "https://creativecommons.org/licenses/by/4.0/deed.ja",
    "attribution": "出典：金沢市「金沢市行政経営プランの取組状況等について」",
    "provenance": dict(PLAN_FACTS_EXAMPLE),
    "version": 1,
    "created_at": "2026-04-01T00:00:00Z",
    "updated_at": "2026-04-01T00:00:00Z",
}


class PlanPublic(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [PLAN_EXAMPLE]})

    slug: str
    title: str
    municipality_code: str = Field(description="全国地方公共団体コード (6 digits, a string).")
    municipality_name: str
    philosophy: str | None
    start_fiscal_year: int
    end_fiscal_year: int
    period_label: str = Field(description="推進期間, e.g. 令和5年度～令和8年度.")
    source: str | None
    license: str | None
    license_url: str | None
    attribution: str | None
    provenance: dict[str, Provenance] = Field(
        description=f"Per fact ({', '.join(PLAN_FACTS)}): {DESCRIPTION}"
    )


class PlanFilters(BaseModel):
    slug: str | None = None
    municipality_code: str | None = None


class PlanFields(BaseModel):
    """What a client writes of a plan, declared once (app/declare.py): the create and update
    schemas are made from it."""

    slug: Slug
    title: Title
    municipality_code: MunicipalityCode
    municipality_name: Name
    philosophy: Note | None = None
    start_fiscal_year: FiscalYear
    end_fiscal_year: FiscalYear
    source: Narrative | None = None
    license: Name | None = None
    license_url: Url | None = None
    attribution: Note | None = None
    provenance: PlanFacts = Field(default_factory=dict)


class PlanCreate(PlanFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "kanazawa-2023-2026",
                    "title": "金沢市行政経営プラン",
                    "municipality_code": "172014",
                    "municipality_name": "金沢市",
                    "philosophy": "質の高い市民サービスを創り続ける行政経営の実践",
                    "start_fiscal_year": "令和5年度",
                    "end_fiscal_year": "R8",
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _period_in_order(self) -> "PlanCreate":
        if self.start_fiscal_year > self.end_fiscal_year:
            raise ValueError("start_fiscal_year must not come after end_fiscal_year")
        return self


@declare.update(plans)
class PlanUpdate(PlanFields):
    """Fields to change; those left out stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"philosophy": "質の高い市民サービスを創り続ける"}]},
    )
