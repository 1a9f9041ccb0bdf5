from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from app import declare
from app.fields import Count, FiscalYear, IsoDate, Narrative, ParentId, Title
from app.listing import Record
from app.models import reports
from app.provenance import (
    DESCRIPTION,
    REPORT_FACTS,
    REPORT_FACTS_EXAMPLE,
    OneProvenance,
    Provenance,
    ReportFacts,
)


class HighlightSection(StrEnum):
    implemented = "implemented"  # 実施した主な取組事項
    added = "added"  # 追加した主な取組事項


class ReportLinePublic(BaseModel):
    policy_id: int
    policy_number: int = Field(description="The policy's number (read-only).")
    items: int = Field(description="項目数: items evaluated.")
    achieved: int = Field(description="達成: items achieved.")
    unconfirmed: int = Field(description="数値未確定: items whose figures were not yet final.")
    provenance: Provenance = Field(description=f"Where the line's figures come from: {DESCRIPTION}")


class ReportHighlightPublic(BaseModel):
    initiative_id: int
    code: str = Field(description="The initiative's code (read-only).")
    section: HighlightSection


class ReportPublic(Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "plan_id": 1,
                    "fiscal_year": 2024,
                    "fiscal_year_label": "令和6年度",
                    "title": "金沢市行政経営プランの取組状況等について",
                    "published_on": None,
                    "source": "金沢市「金沢市行政経営プランの取組状況等について」"
                    "2. 取組事項の達成率",
                    "lines": [
                        {
                            "policy_id": 1,
                            "policy_number": 1,
                            "items": 39,
                            "achieved": 38,
                            "unconfirmed": 0,
                            "provenance": "inferred",
                        }
                    ],
                    "highlights": [{"initiative_id": 1, "code": "R6-7", "section": "implemented"}],
                    "provenance": dict(REPORT_FACTS_EXAMPLE),
                    "version": 1,
                    "created_at": "2026-04-01T00:00:00Z",
                    "updated_at": "2026-04-01T00:00:00Z",
                }
            ]
        }
    )

    plan_id: int
    fiscal_year: int
    fiscal_year_label: str
    title: str
    published_on: date | None
    source: str | None
    lines: list[ReportLinePublic] = Field(description="Published figures per policy.")
    highlights: list[ReportHighlightPublic] = Field(description="Initiatives the report names.")
    provenance: dict[str, Provenance] = Field(
        description=f"Per fact ({', '.join(REPORT_FACTS)}): {DESCRIPTION}"
    )


class ReportLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: ParentId
    items: Count = Field(description="項目数")
    achieved: Count = Field(description="達成")
    unconfirmed: Count = Field(default=0, description="数値未確定 (counted in items)")
    provenance: OneProvenance = Field(
        default=Provenance.stated,
        description="stated unless said otherwise: a published table's figures. inferred when"
        " one is not in the table (a 0 unconfirmed the table leaves unsaid).",
    )

    @model_validator(mode="after")
    def _counts_fit(self) -> "ReportLineIn":
        if reason := counts_refused(self.items, self.achieved, self.unconfirmed):
            raise ValueError(reason)
        return self


def counts_refused(items: int, achieved: int, unconfirmed: int) -> str | None:
    """Why a report line's counts cannot stand together, or None (plan files check it too)."""
    if achieved + unconfirmed > items:
        return "achieved + unconfirmed may not exceed items"
    return None


class ReportHighlightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initiative_id: ParentId
    section: HighlightSection


Lines = Annotated[list[ReportLineIn], Field(max_length=999, description="One per policy.")]
Highlights = Annotated[list[ReportHighlightIn], Field(max_length=10_000)]

REPORT_IN_EXAMPLE: JsonDict = {
    "plan_id": 1,
    "fiscal_year": "令和6年度",
    "title": "金沢市行政経営プランの取組状況等について",
    "source": "金沢市「金沢市行政経営プランの取組状況等について」",
    "lines": [
        {"policy_id": 1, "items": 39, "achieved": 38, "unconfirmed": 0},
        {"policy_id": 2, "items": 45, "achieved": 38, "unconfirmed": 0},
        {"policy_id": 3, "items": 40, "achieved": 32, "unconfirmed": 2},
    ],
    "highlights": [{"initiative_id": 1, "section": "implemented"}],
}


class ReportFields(BaseModel):
    """What a client writes of a report, declared once (app/declare.py): the create and update
    schemas are made from it. Its plan is set on create only."""

    plan_id: ParentId
    fiscal_year: FiscalYear
    title: Title
    published_on: IsoDate | None = None
    source: Narrative | None = None
    lines: Lines = Field(default_factory=list)
    highlights: Highlights = Field(default_factory=list)
    provenance: ReportFacts = Field(default_factory=dict)


class ReportCreate(ReportFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [REPORT_IN_EXAMPLE]})


@declare.update(reports, exclude=("plan_id",))
class ReportUpdate(ReportFields):
    """Fields to change; `lines` and `highlights`, when given, replace the whole list."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"published_on": "2025-08-01"}]}
    )
