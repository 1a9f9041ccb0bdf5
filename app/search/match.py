"""How a word of a query is found in a table's search key, on each database.

Every table that can be searched keeps `search_text`: its fields in search form
(app/text.py: NFKC, casefolded, katakana as hiragana), a line each. A query's words are
folded the same way, and each must be found (AND) as a substring; `%` and `_` are literal.

The index behind it differs by database (migrations/versions/20261206_5e1c2a7b9d30_*):

- **PostgreSQL:** a pg_trgm GIN index on each `search_text`, which `LIKE '%word%'` uses by
  itself (for a word of 3 characters or more; a shorter one has no trigram and is scanned).
- **SQLite:** an FTS5 table with the trigram tokenizer beside initiatives and evaluations
  (`initiatives_fts`, `evaluations_fts`, kept in step by triggers), asked with MATCH for a
  word of 3 characters or more; a shorter word, and the small policies and measures
  tables, use LIKE. FTS5's trigram MATCH of a quoted phrase finds exactly its substrings
  (the keys and words are casefolded already, as its tokenizer would).

So a statement's text depends on the database and on which words are short: `shape()` is
the part of a prepared statement's key that says so.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Table, bindparam, column, func, select, table
from sqlalchemy.sql.expression import Alias, FromClause

from app.text import like_pattern, search_words

# Trigram indexes find words of this many characters or more.
TRIGRAM = 3
# The FTS5 tables of SQLite, by the table they index (rowid = the table's id).
FTS_TABLES = {"initiatives": "initiatives_fts", "evaluations": "evaluations_fts"}


@dataclass(frozen=True)
class Word:
    """One word of a query in search form, and the names of its statement's binds."""

    text: str
    index: int

    @property
    def indexed(self) -> bool:
        """Long enough for a trigram index."""
        return len(self.text) >= TRIGRAM

    def pattern(self) -> BindParameter[str]:
        """The bind of the word's LIKE pattern (`%word%`, wildcards escaped)."""
        return bindparam(f"word_{self.index}")

    def phrase(self) -> BindParameter[str]:
        """The bind of the word as an FTS5 phrase (SQLite)."""
        return bindparam(f"word_{self.index}_phrase")

    def plain(self) -> BindParameter[str]:
        """The bind of the word as it is (to find its position)."""
        return bindparam(f"word_{self.index}_text")


@dataclass(frozen=True)
class Terms:
    """The words of a query; every one must be found."""

    words: tuple[Word, ...]

    @classmethod
    def parse(cls, query: str | None) -> "Terms":
        words = search_words(query or "")
        return cls(tuple(Word(text, index) for index, text in enumerate(words)))

    def __bool__(self) -> bool:
        return bool(self.words)

    def shape(self, dialect: str) -> tuple[Any, ...]:
        """What a statement searching these words depends on, besides its other filters."""
        return (dialect, tuple(word.indexed for word in self.words))

    def values(self) -> dict[str, str]:
        """The binds' values (a statement uses those it needs)."""
        values: dict[str, str] = {}
        for word in self.words:
            values[word.pattern().key] = like_pattern(word.text)
            values[word.phrase().key] = '"' + word.text.replace('"', '""') + '"'
            values[word.plain().key] = word.text
        return values


NO_TERMS = Terms(())


def has_word(rows: FromClause, word: Word, dialect: str) -> ColumnElement[bool]:
    """Rows (a table with `search_text`, or an alias of one) whose search key holds the
    word, through the database's index where there is one."""
    base = rows.element if isinstance(rows, Alias) else rows
    fts = FTS_TABLES.get(base.name) if isinstance(base, Table) else None
    if dialect == "sqlite" and fts is not None and word.indexed:
        index = table(fts, column("rowid"), column("search_text"))
        hits = select(index.c.rowid).where(index.c.search_text.op("MATCH")(word.phrase()))
        return rows.c.id.in_(hits)
    return rows.c.search_text.like(word.pattern(), escape="\\")


def has_words(rows: FromClause, words: Sequence[Word], dialect: str) -> list[ColumnElement[bool]]:
    return [has_word(rows, word, dialect) for word in words]


def position(dialect: str, text: ColumnElement[Any], part: Any) -> ColumnElement[int]:
    """Where part first occurs in text, from 1 (0: nowhere)."""
    return func.instr(text, part) if dialect == "sqlite" else func.strpos(text, part)


def in_first_line(dialect: str, key: ColumnElement[str], word: Word) -> ColumnElement[bool]:
    """The word is in a search key's first line (its first field; no word holds a newline,
    so its first occurrence lies before the first newline exactly when one does)."""
    at = position(dialect, key, word.plain())
    return (at > 0) & (at < position(dialect, key + "\n", "\n"))
