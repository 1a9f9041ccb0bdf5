from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.fields import UTCDateTime


class ChangePublic(BaseModel):
    id: int
    at: UTCDateTime
    actor: str = Field(description="The writing token's name, or `seed`.")
    action: str = Field(description="create, update or delete.")
    entity: str = Field(examples=["initiative"])
    entity_id: int
    changes: dict[str, list[Any]] = Field(description="{field: [old, new]}")


class ChangeFeed(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 42,
                            "at": "2026-04-01T00:00:00Z",
                            "actor": "seed",
                            "action": "create",
                            "entity": "initiative",
                            "entity_id": 1,
                            "changes": {
                                "code": [None, "R6-7"],
                                "title": [None, "公用車給油事務へのクレジットカードの導入"],
                            },
                        }
                    ],
                    "next": 42,
                }
            ]
        }
    )

    items: list[ChangePublic]
    next: int = Field(description="Pass as `since` to get what comes after these items.")
