"""Each resource's JSON object, kept under its id and version.

A resource's id and version name one content over the database's whole life: ids are never
reused (app/models.py), and every write moves on the version of each row whose answer it
changes, the rows that show a field of it included (app/writes.py `touch`). That is what its
ETag says (app/versions.py), and it is also a key its JSON object can be kept under: the
object of initiative 7 at version 3 is the same bytes whoever asks, with whatever filter,
sort, page, token or host, so it is made once and never goes stale. No write has to forget
anything; a new version is simply a new key.

This is what makes a page of 50 cheap for the reads the answers kept per data version
(app/web/caching.py) cannot serve: a reader with a token, a new filter or sort, another
page, and every read after a write elsewhere. The page's statement then asks for the ids
and versions of its rows only (a few dozen microseconds on SQLite, where the whole rows
cost ten times that to read and as much again to shape, bench/README.md), and the objects
come from here. When any of them is missing, the page reads its whole rows as before and
keeps their objects.

Kept per process and per database (one per app, `app.state.kept_rows`), bounded by their
bytes (ROW_CACHE_BYTES; 0: nothing kept, every read shapes its rows). Reads run on the event
loop, so no lock is needed.

After restoring a backup into a running service's database, restart it: a restored database
may name by an id and version a content this process has not seen (the same holds for the
ETags clients keep, which is why a restore is documented as a restart).
"""

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from pydantic_core import to_json

from app.lru import LRU
from app.reads import Row

Key = tuple[int, int]  # (id, version)


class KeptRows:
    """JSON objects (encoded, as bytes) by (id, version), least recently used first out."""

    def __init__(self, max_bytes: int) -> None:
        self._items: LRU[Key, bytes] = LRU(max_bytes, weigh=len)

    def __bool__(self) -> bool:
        return self._items.limit > 0

    def all_of(self, keys: Sequence[Key]) -> list[bytes] | None:
        """The objects of every key, in order, or None when any one is not kept."""
        found = []
        for key in keys:
            item = self._items.get(key)
            if item is None:
                return None
            found.append(item)
        return found

    def keep(self, rows: Sequence[Row], shape: Callable[[Row], dict[str, Any]]) -> list[bytes]:
        """Each row's JSON object, shaped and encoded; each kept under its id and version."""
        encoded = []
        for row in rows:
            item = to_json(shape(row))
            self._items.put((row["id"], row["version"]), item)
            encoded.append(item)
        return encoded


NOTHING_KEPT = KeptRows(0)


def kept_rows_of(request: Request) -> KeptRows:
    """The app's kept rows."""
    kept: KeptRows = request.app.state.kept_rows
    return kept
