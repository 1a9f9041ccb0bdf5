from pydantic import ConfigDict, Field

from app.http import Record


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
