from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.http import Record


class HighlightSection(StrEnum):
    implemented = "implemented"  # 実施した主な取組事項
    added = "added"  # 追加した主な取組事項


class ReportLinePublic(BaseModel):
    policy_id: int
    policy_number: int = Field(description="The policy's number (read-only).")
    items: int = Field(description="項目数: items evaluated.")
    achieved: int = Field(description="達成: items achieved.")
    unconfirmed: int = Field(description="数値未確定: items whose figures were not yet final.")


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
                    "title": "取組事項の達成率",
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
                        }
                    ],
                    "highlights": [{"initiative_id": 1, "code": "R6-7", "section": "implemented"}],
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
