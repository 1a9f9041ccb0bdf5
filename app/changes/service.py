"""The change feed."""

from sqlalchemy import select
from sqlmodel import Session

from app.changes.schemas import ChangeFeed, ChangePublic
from app.models import changes


def feed(*, session: Session, since: int, limit: int) -> ChangeFeed:
    rows = session.execute(
        select(changes).where(changes.c.id > since).order_by(changes.c.id).limit(limit)
    ).mappings()
    items = [ChangePublic.model_validate(row) for row in rows]
    return ChangeFeed(items=items, next=items[-1].id if items else since)
