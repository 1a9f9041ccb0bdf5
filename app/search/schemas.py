from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class HitKind(StrEnum):
    policy = "policy"
    measure = "measure"
    initiative = "initiative"
    evaluation = "evaluation"


class SearchHit(BaseModel):
    """One thing a search found: a policy, a measure, an initiative, or an evaluation's
    result."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "initiative",
                    "id": 10,
                    "plan_id": 1,
                    "code": "R7-1",
                    "title": "避難所の入退所等に活用できるデジタル市民パスポートの導入",
                    "snippet": "避難所の入退所等に活用できるデジタル市民パスポートの導入",
                    "initiative_id": 10,
                    "fiscal_year": None,
                    "fiscal_year_label": None,
                },
                {
                    "kind": "evaluation",
                    "id": 1,
                    "plan_id": 1,
                    "code": "R6-7",
                    "title": "公用車給油事務へのクレジットカードの導入",
                    "snippet": "公用車への給油時に用いていた伝票を廃止し、クレジットカード払いを…",
                    "initiative_id": 1,
                    "fiscal_year": 2024,
                    "fiscal_year_label": "令和6年度",
                },
            ]
        }
    )

    kind: HitKind
    id: int = Field(description="The id of the policy, measure, initiative or evaluation.")
    plan_id: int
    code: str | None = Field(
        description="The initiative's code (an evaluation's: its initiative's); null for a"
        " policy or measure."
    )
    title: str = Field(
        description="The policy's, measure's or initiative's title (an evaluation's: its"
        " initiative's)."
    )
    snippet: str = Field(
        description="A short piece of the text as written, around the first word found"
        " (… where it is cut)."
    )
    initiative_id: int | None = Field(
        description="The initiative (of an initiative or evaluation hit); null otherwise."
    )
    fiscal_year: int | None = Field(description="An evaluation's fiscal year; null otherwise.")
    fiscal_year_label: str | None
