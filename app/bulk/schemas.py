"""Bulk rows and answers. A row's fields are those of the export's columns (English names)."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.evaluations.schemas import EvaluationStatus
from app.fields import (
    Amount,
    Code,
    FiscalYear,
    Flag,
    LongTitle,
    Narrative,
    Number,
    ParentId,
    PlanPage,
    Unit,
)

STATUS_NAMES = {"達成": "achieved", "未達成": "not_achieved", "数値未確定": "unconfirmed"}


def _status(value: Any) -> Any:
    return STATUS_NAMES.get(value.strip(), value.strip()) if isinstance(value, str) else value


class InitiativeRow(BaseModel):
    """An initiative keyed by code. Fields left out stay as they are; null clears them."""

    model_config = ConfigDict(extra="forbid")

    municipality_code: str | None = None
    municipality_name: str | None = None
    plan_slug: str | None = None
    policy_number: Number | None = None
    measure_number: Number | None = None
    measure_id: ParentId | None = None
    code: Code
    title: LongTitle | None = None
    description: Narrative | None = None
    plan_page: PlanPage | None = None
    fiscal_year: FiscalYear | None = None
    fiscal_year_label: str | None = None
    numeric_target: Flag | None = None
    target_value: Amount | None = None
    target_unit: Unit | None = None


class EvaluationRow(BaseModel):
    """An evaluation keyed by code and fiscal year; status 達成/未達成/数値未確定 or English."""

    model_config = ConfigDict(extra="forbid")

    municipality_code: str | None = None
    municipality_name: str | None = None
    plan_slug: str | None = None
    code: Code
    fiscal_year: FiscalYear
    fiscal_year_label: str | None = None
    status: Annotated[EvaluationStatus | None, BeforeValidator(_status)] = None
    actual_value: Amount | None = None
    result: Narrative | None = None
    source: Narrative | None = None


class Action(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


class RowOutcome(BaseModel):
    row: int
    code: str
    fiscal_year: int | None = None
    action: Action


class BulkResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": False,
                    "created": 1,
                    "updated": 1,
                    "unchanged": 0,
                    "rows": [
                        {"row": 0, "code": "R6-7", "action": "updated"},
                        {"row": 1, "code": "R7-28", "action": "created"},
                    ],
                }
            ]
        }
    )

    dry_run: bool
    created: int
    updated: int
    unchanged: int
    rows: list[RowOutcome] = Field(description="One per row sent, in order.")


class InitiativeItems(BaseModel):
    """The JSON body of POST /bulk/initiatives (CSV with the export's columns works too)."""

    model_config = ConfigDict(extra="forbid")

    items: list[InitiativeRow] = Field(max_length=10_000)


class EvaluationItems(BaseModel):
    """The JSON body of POST /bulk/evaluations (CSV with the export's columns works too)."""

    model_config = ConfigDict(extra="forbid")

    items: list[EvaluationRow] = Field(max_length=10_000)
