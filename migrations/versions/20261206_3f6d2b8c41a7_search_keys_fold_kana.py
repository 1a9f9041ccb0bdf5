"""search keys fold katakana to hiragana; policies and measures get search keys

Revision ID: 3f6d2b8c41a7
Revises: 84b8470ed3a2
Create Date: 2026-12-06 09:00:00

Search finds katakana and hiragana alike (かーど finds カード), so the stored keys write
katakana as hiragana, and an initiative's key puts its title first (a search ranks a word in
the title above one elsewhere: app/search/). Every key is computed again, with the rules as
they stand at this revision (copied here, so that a later change to app/text.py does not
change what this migration does). Policies (title, focus) and measures (title) become
searchable and get a key of their own.

The downgrade writes the keys as the previous revision did: code, title, description, kana
as written.
"""

import re
import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '3f6d2b8c41a7'
down_revision: str | None = '84b8470ed3a2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HYPHEN_LIKE = re.compile('[\u2010-\u2015\u2212\u2043\u02d7\u2796\ufe58\ufe63\uff0d]')
_SPACES = re.compile(r'\s+')
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)} | {
    0x30FD: 0x309D,
    0x30FE: 0x309E,
}


def _fold(text: str) -> str:
    folded = _HYPHEN_LIKE.sub('-', unicodedata.normalize('NFKC', text).casefold())
    return _SPACES.sub(' ', folded).strip()


def _kana_folded(text: str) -> str:
    return _fold(text).translate(_KATAKANA_TO_HIRAGANA)


def _key(fold: Callable[[str], str], *parts: str | None) -> str:
    return '\n'.join(fold(part) for part in parts if part)


def _rewrite(table: str, columns: Sequence[str], key: Callable[..., str]) -> None:
    """Set every row's search_text to key(*columns), writing only the rows it changes."""
    bind = op.get_bind()
    query = f'SELECT id, search_text, {", ".join(columns)} FROM {table}'
    changed = [
        {'id': row[0], 'key': new}
        for row in bind.execute(sa.text(query))
        if (new := key(*row[2:])) != row[1]
    ]
    if changed:
        bind.execute(sa.text(f'UPDATE {table} SET search_text = :key WHERE id = :id'), changed)


def upgrade() -> None:
    for table in ('policies', 'measures'):
        op.add_column(
            table, sa.Column('search_text', sa.Text(), server_default='', nullable=False)
        )
    _rewrite(
        'initiatives',
        ('code', 'title', 'description'),
        lambda code, title, description: _key(_kana_folded, title, code, description),
    )
    _rewrite('evaluations', ('result',), lambda result: _key(_kana_folded, result))
    _rewrite('policies', ('title', 'focus'), lambda title, focus: _key(_kana_folded, title, focus))
    _rewrite('measures', ('title',), lambda title: _key(_kana_folded, title))


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place: no rebuild, which would also lose AUTOINCREMENT.
    for table in ('policies', 'measures'):
        op.drop_column(table, 'search_text')
    _rewrite(
        'initiatives',
        ('code', 'title', 'description'),
        lambda code, title, description: _key(_fold, code, title, description),
    )
    _rewrite('evaluations', ('result',), lambda result: _key(_fold, result))
