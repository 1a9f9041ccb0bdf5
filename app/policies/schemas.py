from pydantic import BaseModel, ConfigDict, Field

from app import declare
from app.fields import Number, ParentId, Title
from app.listing import Record
from app.models import policies


class PolicyPublic(Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "plan_id": 1,
                    "number": 1,
                    "title": "行政組織の質を高める",
                    "focus": "ヒトの育成と情報発信の強化",
                    "version": 1,
                    "created_at": "2026-04-01T00:00:00Z",
                    "updated_at": "2026-04-01T00:00:00Z",
                }
            ]
        }
    )

    plan_id: int
    number: int = Field(description="基本方針の番号 (1..n inside the plan).")
    title: str
    focus: str | None = Field(description="The focus written in brackets after the title.")


class PolicyFields(BaseModel):
    """What a client writes of a policy, declared once (app/declare.py): the create and update
    schemas are made from it. Its plan is set on create only."""

    plan_id: ParentId
    number: Number
    title: Title
    focus: Title | None = None


class PolicyCreate(PolicyFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "plan_id": 1,
                    "number": 2,
                    "title": "共創の質を高める",
                    "focus": "ヒトとの連携の推進",
                }
            ]
        },
    )


@declare.update(policies, exclude=("plan_id",))
class PolicyUpdate(PolicyFields):
    """Fields to change; those left out stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"focus": "ヒトとの連携の推進"}]}
    )
