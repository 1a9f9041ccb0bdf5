from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.declare import Label
from app.fields import Amount, Narrative
from app.listing import Record
from app.provenance import DESCRIPTION, OneProvenance, Provenance

EVALUATION_EXAMPLE: JsonDict = {
    "id": 1,
    "initiative_id": 1,
    "code": "R6-7",
    "fiscal_year": 2024,
    "fiscal_year_label": "令和6年度",
    "status": "achieved",
    "actual_value": None,
    "result": "公用車への給油時に用いていた伝票を廃止し、クレジットカード払いを導入したことにより、"
    "事業者の請求処理と市の支払処理の双方で事務負担の軽減を図りました。",
    "source": "「3. 令和6年度に実施した主な取組事項」に掲載。評価「達成」は推定。",
    "provenance": "inferred",
    "version": 1,
    "created_at": "2026-04-01T00:00:00Z",
    "updated_at": "2026-04-01T00:00:00Z",
}


class EvaluationStatus(StrEnum):
    achieved = "achieved"  # 達成
    not_achieved = "not_achieved"  # 未達成
    unconfirmed = "unconfirmed"  # 数値未確定


class StatusFilter(StrEnum):
    achieved = "achieved"
    not_achieved = "not_achieved"
    unconfirmed = "unconfirmed"
    none = "none"


class EvaluationPublic(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [EVALUATION_EXAMPLE]})

    initiative_id: int
    code: str = Field(description="The initiative's code (read-only).")
    fiscal_year: int
    fiscal_year_label: str
    status: EvaluationStatus | None = Field(
        description="達成 achieved, 未達成 not_achieved, 数値未確定 unconfirmed; null when the"
        " source states no result."
    )
    actual_value: float | None
    result: str | None = Field(description="The narrative of what was done (実績).")
    source: str | None = Field(description="Where the status comes from, e.g. that it is inferred.")
    provenance: Provenance = Field(description=f"Where the evaluation comes from: {DESCRIPTION}")


class EvaluationFilters(BaseModel):
    plan_id: int | None = None
    policy_id: int | None = None
    measure_id: int | None = None
    initiative_id: int | None = None
    fiscal_year: int | None = None
    status: StatusFilter | None = None
    provenance: Provenance | None = None


class EvaluationFields(BaseModel):
    """What a client writes of an evaluation, declared once (app/declare.py): the PUT and
    bulk-row schemas and the export's columns are made from it. The initiative and the fiscal
    year are its key, not fields: the path names them, or the bulk row's own columns."""

    status: Annotated[
        EvaluationStatus | None,
        Label(
            "評価",
            "達成 / 未達成 / 数値未確定（空欄は評価なし）",
            "Evaluation: achieved / not_achieved / unconfirmed"
            " (達成 / 未達成 / 数値未確定 under Japanese headers); empty = no status",
        ),
    ] = None
    actual_value: Annotated[Amount | None, Label("実績値", "実績値", "Actual value")] = None
    result: Annotated[
        Narrative | None, Label("実績", "取組の実績", "What was done (narrative)")
    ] = None
    source: Annotated[
        Narrative | None, Label("出典", "評価の出典（推定であればその旨）", "Source")
    ] = None
    provenance: Annotated[
        OneProvenance,
        Label(
            "来歴",
            "記載（公表資料に記載）/ 推定（公表資料から推定）/ 外部（公表資料以外）",
            "stated / inferred / external (記載 / 推定 / 外部 under Japanese headers):"
            " whether the document states the evaluation, it was inferred from it, or it"
            " came from elsewhere",
        ),
    ] = Provenance.external


class EvaluationPut(EvaluationFields):
    """The whole evaluation of one fiscal year; fields left out become null."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "status": "achieved",
                    "result": "通学路図及び通学区域図をデジタル化し、"
                    "市オープンデータポータルサイトでの提供を開始しました。",
                    "source": "令和6年度取組状況調査",
                    "provenance": "external",
                }
            ]
        },
    )
