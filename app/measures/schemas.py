from pydantic import BaseModel, ConfigDict, Field

from app import declare
from app.fields import Number, ParentId, Title
from app.listing import Record
from app.models import measures


class MeasurePublic(Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "policy_id": 1,
                    "plan_id": 1,
                    "policy_number": 1,
                    "number": 1,
                    "title": "働き方のDXと機能的な組織運営",
                    "version": 1,
                    "created_at": "2026-04-01T00:00:00Z",
                    "updated_at": "2026-04-01T00:00:00Z",
                }
            ]
        }
    )

    policy_id: int
    plan_id: int = Field(description="The policy's plan (read-only).")
    policy_number: int = Field(description="The policy's number (read-only).")
    number: int = Field(description="施策の番号: the document's （1） is 1.")
    title: str


class MeasureFields(BaseModel):
    """What a client writes of a measure, declared once (app/declare.py): the create and
    update schemas are made from it."""

    policy_id: ParentId
    number: Number
    title: Title


class MeasureCreate(MeasureFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"policy_id": 1, "number": 2, "title": "行政データの活用と伝わる情報発信"}]
        },
    )


@declare.update(measures)
class MeasureUpdate(MeasureFields):
    """Fields to change; those left out stay as they are. The policy must be of the same plan."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "行政データの活用と伝わる情報発信"}]},
    )
