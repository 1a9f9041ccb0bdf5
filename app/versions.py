"""Versions: the version every resource carries, and the database's data version.

Every write bumps the version of what it changes and moves `data_version` on, in the same
transaction (app/changes/recorder.py). From these come ETags (app/web/caching.py) and the
keys of kept answers (app/web/caching.py).
"""

from typing import Protocol

from sqlalchemy import Connection, select
from sqlmodel import Session

from app.models import data_version
from app.reads import Prepared, Reader

_VERSION = select(data_version.c.version).where(data_version.c.id == 1)
VERSION = Prepared(_VERSION)  # the data version, for a batch of reads (app/reads.py)


def current_version(session: Session | Connection) -> int:
    return session.scalar(_VERSION) or 0


async def read_version(reader: Reader) -> int:
    return await reader.scalar(VERSION) or 0


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
