"""Bulk rows and answers. A row's fields are those of the export's columns (English names)."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app import declare
from app.evaluations.schemas import EvaluationFields, EvaluationStatus
from app.fields import Absent, Code, FiscalYear, Number, absent
from app.initiatives.schemas import InitiativeFields
from app.models import initiatives

STATUS_NAMES = {"達成": "achieved", "未達成": "not_achieved", "数値未確定": "unconfirmed"}


def _status(value: Any) -> Any:
    return STATUS_NAMES.get(value.strip(), value.strip()) if isinstance(value, str) else value


# A row is validated in two steps: this model (types and limits), then the planner
# (app/bulk/initiatives.py), which refuses null where a field cannot be cleared: those whose
# column is NOT NULL (NOT_NULL: title, numeric_target), and the measure named by numbers or by
# id. The fields stay `| None` here so that a CSV's empty cell gets the planner's message
# ("title may not be empty", in Japanese too); the declared JSON schema says what is accepted.
# The code, the measure and the fiscal year have rules of their own: the code is the row's
# key, the measure may be named by its numbers instead, an empty fiscal year comes from the code.
OWN_RULES = ("code", "measure_id", "fiscal_year")
NOT_NULL = tuple(
    name
    for name in declare.declared(InitiativeFields)
    if name not in OWN_RULES and not declare.clearable(initiatives, name)
)
NOT_NULL_WHEN_SENT = (*NOT_NULL, "policy_number", "measure_number")


def _initiative_row_schema(schema: dict[str, Any]) -> None:
    properties = schema["properties"]
    for name in NOT_NULL_WHEN_SENT:
        field = properties[name]
        (kept,) = [option for option in field.pop("anyOf") if option.get("type") != "null"]
        field.pop("default", None)
        field.update(kept)
    # A measure is named by both numbers together; null for measure_id only beside them.
    schema["dependentRequired"] = {
        "policy_number": ["measure_number"],
        "measure_number": ["policy_number"],
    }
    schema["if"] = {"properties": {"measure_id": {"type": "null"}}, "required": ["measure_id"]}
    schema["then"] = {"required": ["policy_number", "measure_number"]}


def _evaluation_row_schema(schema: dict[str, Any]) -> None:
    # The status may be written in Japanese as in the CSV (達成 / 未達成 / 数値未確定).
    schema["properties"]["status"] = {
        "anyOf": [
            {"type": "string", "enum": [*(status.value for status in EvaluationStatus)]},
            {"type": "string", "enum": list(STATUS_NAMES)},
            {"type": "null"},
        ],
        "default": None,
        "description": "achieved, not_achieved or unconfirmed (or 達成, 未達成, 数値未確定);"
        " null: no status stated.",
    }


@declare.row
class InitiativeRow(InitiativeFields):
    """An initiative keyed by code. Fields left out stay as they are; null clears them (title,
    numeric_target and the measure cannot be cleared)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_initiative_row_schema)

    municipality_code: str | None = None
    municipality_name: str | None = None
    plan_slug: str | None = None
    policy_number: Number | None = None
    measure_number: Number | None = None
    fiscal_year_label: str | None = None
    code: Code


@declare.row
class EvaluationRow(EvaluationFields):
    """An evaluation keyed by code and fiscal year; status 達成/未達成/数値未確定 or English."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_evaluation_row_schema)

    municipality_code: str | None = None
    municipality_name: str | None = None
    plan_slug: str | None = None
    code: Code
    fiscal_year: FiscalYear
    fiscal_year_label: str | None = None
    status: Annotated[EvaluationStatus | None, BeforeValidator(_status)] = None


class Action(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


class RowOutcome(BaseModel):
    row: int
    code: str
    fiscal_year: int | Absent = absent("Evaluations: the row's fiscal year.")
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
