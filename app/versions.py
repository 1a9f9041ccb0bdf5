"""Versions: the version every resource carries, and the database's data version.

Every write bumps the version of what it changes and moves `data_version` on, in the same
transaction (app/changes/recorder.py). From these come ETags (app/web/caching.py) and the
keys of kept answers (app/web/caching.py).
"""

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection, select
from sqlmodel import Session

from app.models import data_version
from app.reads import Prepared, Reader, Row

_VERSION = select(data_version.c.version).where(data_version.c.id == 1)
VERSION = Prepared(_VERSION)  # the data version, for a batch of reads (app/reads.py)


def current_version(session: Session | Connection) -> int:
    return session.scalar(_VERSION) or 0


async def read_version(reader: Reader) -> int:
    return await reader.scalar(VERSION) or 0


def _version_of(rows: list[Row]) -> int:
    return int(rows[0]["version"] or 0) if rows else 0


class VersionFirst(Reader):
    """A reader that reads the data version with the first statements run through it, in the
    same batch (on PostgreSQL, the same round trip) and before them: the version is then
    never newer than the data those statements read, as when it is read on its own first.

    `version` is None until a statement has run."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.dialect = reader.dialect
        self.version: int | None = None

    async def batch(self, *queries: tuple[Prepared, Mapping[str, Any]]) -> list[list[Row]]:
        if self.version is not None:
            return await self.reader.batch(*queries)
        versions, *answers = await self.reader.batch((VERSION, {}), *queries)
        self.version = _version_of(versions)
        return answers

    async def all(self, prepared: Prepared, **values: Any) -> list[Row]:
        return (await self.batch((prepared, values)))[0]


class Versioned(Protocol):
    @property
    def id(self) -> int | None: ...

    @property
    def version(self) -> int: ...


def resource_etag(row: Versioned) -> str:
    """The strong ETag of one resource: its id and version.

    Ids are never reused (app/models.py) and the version counts every change, so a tag
    names one content over the database's whole life: a resource deleted and made again
    never matches a tag of the old one, for If-None-Match or If-Match.
    """
    return f'"{row.id}.{row.version}"'
