from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app import declare
from app.declare import FISCAL_YEAR, Label
from app.evaluations.schemas import EVALUATION_EXAMPLE, EvaluationPublic, StatusFilter
from app.fields import (
    Amount,
    Code,
    FiscalYear,
    Flag,
    LongTitle,
    Narrative,
    ParentId,
    PlanPage,
    Unit,
)
from app.listing import Record
from app.models import initiatives

INITIATIVE_EXAMPLE: JsonDict = {
    "id": 1,
    "plan_id": 1,
    "policy_id": 1,
    "measure_id": 1,
    "policy_number": 1,
    "measure_number": 1,
    "code": "R6-7",
    "title": "公用車給油事務へのクレジットカードの導入",
    "description": None,
    "plan_page": 38,
    "fiscal_year": 2024,
    "fiscal_year_label": "令和6年度",
    "numeric_target": False,
    "target_value": None,
    "target_unit": None,
    "latest_evaluation": EVALUATION_EXAMPLE,
    "version": 2,
    "created_at": "2026-04-01T00:00:00Z",
    "updated_at": "2026-04-01T00:00:00Z",
}


class InitiativePublic(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [INITIATIVE_EXAMPLE]})

    plan_id: int
    policy_id: int
    measure_id: int
    policy_number: int = Field(description="The policy's number (read-only).")
    measure_number: int = Field(description="The measure's number (read-only).")
    code: str = Field(description="取組番号, unique in the plan (the document's №.R6-7).")
    title: str
    description: str | None
    plan_page: int | None = Field(description="Page of the plan document (P38 is 38).")
    fiscal_year: int = Field(description="The fiscal year the initiative was listed for.")
    fiscal_year_label: str
    numeric_target: bool = Field(description="【数値目標】: the initiative has a numeric target.")
    target_value: float | None
    target_unit: str | None
    latest_evaluation: EvaluationPublic | None = Field(
        description="The evaluation of the latest fiscal year evaluated, or null."
    )


class InitiativeFilters(BaseModel):
    plan_id: int | None = None
    policy_id: int | None = None
    measure_id: int | None = None
    code: str | None = None
    fiscal_year: int | None = None
    numeric_target: Flag | None = None
    status: StatusFilter | None = None
    q: str | None = None


class InitiativeFields(BaseModel):
    """What a client writes of an initiative, declared once (app/declare.py): the create,
    update and bulk-row schemas and the export's columns (those with a Label) are made from
    it. measure_id is not exported: the export names the measure by its numbers."""

    measure_id: ParentId
    code: Annotated[
        Code,
        Label(
            "取組番号",
            "取組番号（R6-7 など、計画内で一意）",
            "Initiative code (e.g. R6-7), unique in the plan",
        ),
    ]
    title: Annotated[LongTitle, Label("取組事項", "取組事項の名称", "Name of the initiative")]
    description: Annotated[
        Narrative | None, Label("内容", "取組の内容", "What the initiative does")
    ] = None
    plan_page: Annotated[
        PlanPage | None, Label("掲載ページ", "計画書の掲載ページ", "Page in the plan document")
    ] = None
    # Null, or left out, on create: the code R<n>-… gives it. It is never stored empty.
    fiscal_year: Annotated[FiscalYear | None, FISCAL_YEAR] = Field(
        default=None, description="Needed unless the code is R<n>-… (which gives 令和n)."
    )
    numeric_target: Annotated[
        Flag,
        Label("数値目標", "数値目標の有無（true/false）", "Has a numeric target (true/false)"),
    ] = False
    target_value: Annotated[Amount | None, Label("目標値", "目標値", "Target value")] = None
    target_unit: Annotated[Unit | None, Label("単位", "目標値の単位", "Unit of the target")] = None


class InitiativeCreate(InitiativeFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "measure_id": 1,
                    "code": "R7-1",
                    "title": "避難所の入退所等に活用できるデジタル市民パスポートの導入",
                    "description": "スマートフォンアプリ「デジタル市民パスポート」を利用して"
                    "スムーズな避難所受付・管理を実現します。",
                    "plan_page": 38,
                    "numeric_target": False,
                }
            ]
        },
    )


@declare.update(initiatives)
class InitiativeUpdate(InitiativeFields):
    """Fields to change; those left out stay as they are. The measure must be of the same plan."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"plan_page": 38, "numeric_target": True}]},
    )
