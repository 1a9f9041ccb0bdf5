"""trigram indexes behind search

Revision ID: 5e1c2a7b9d30
Revises: 3f6d2b8c41a7
Create Date: 2026-12-06 10:00:00

A search's words are found anywhere in the stored keys (search_text), which a B-tree cannot
help with; a trigram index can (app/search/match.py says how each is asked).

- PostgreSQL: pg_trgm's GIN index on each key, used by LIKE '%word%' as it is. Making the
  extension takes a superuser (or a trusted-extension grant) the first time: when the role
  may not, the migration says so and goes on without the indexes (searches still work, by
  scanning); run `CREATE EXTENSION pg_trgm` as a superuser and migrate again down and up to
  add them. The downgrade leaves the extension (other schemas may use it).
- SQLite (3.34 or later): an FTS5 table with the trigram tokenizer for initiatives and for
  evaluations, its rowid the row's id, reading the key from the table itself (external
  content), kept in step by triggers. Policies and measures are few: LIKE reads them all.

A later migration that rebuilds initiatives or evaluations on SQLite (batch mode) drops
their triggers with the old table, and must make them again.

These objects are outside the models (SQLAlchemy cannot declare them per database):
migrations/env.py leaves them out of `alembic check`.
"""

from collections.abc import Sequence

from alembic import op


revision: str = '5e1c2a7b9d30'
down_revision: str | None = '3f6d2b8c41a7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGRAM_INDEXED = ('policies', 'measures', 'initiatives', 'evaluations')
FTS_INDEXED = ('initiatives', 'evaluations')

_TRY_EXTENSION = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE WARNING 'pg_trgm cannot be created by this role (%): search runs without '
        'trigram indexes; a superuser can run CREATE EXTENSION pg_trgm', SQLERRM;
END
$$
"""


def _postgresql_up() -> None:
    op.execute(_TRY_EXTENSION)
    found = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar()
    if not found:
        return
    for table in TRIGRAM_INDEXED:
        op.execute(
            f'CREATE INDEX IF NOT EXISTS ix_{table}_search_text_trgm'
            f' ON {table} USING gin (search_text gin_trgm_ops)'
        )


def _sqlite_up() -> None:
    for table in FTS_INDEXED:
        fts = f'{table}_fts'
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, content='{table}',"
            f" content_rowid='id', tokenize='trigram')"
        )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        remove = (
            f"INSERT INTO {fts}({fts}, rowid, search_text)"
            " VALUES ('delete', old.id, old.search_text);"
        )
        add = f'INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text);'
        op.execute(f'CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {add} END')
        op.execute(f'CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {remove} END')
        op.execute(
            f'CREATE TRIGGER {fts}_update AFTER UPDATE OF id, search_text ON {table}'
            f' BEGIN {remove} {add} END'
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _postgresql_up()
    else:
        _sqlite_up()


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TRIGRAM_INDEXED:
            op.execute(f'DROP INDEX IF EXISTS ix_{table}_search_text_trgm')
        return
    for table in FTS_INDEXED:
        fts = f'{table}_fts'
        for event in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER IF EXISTS {fts}_{event}')
        op.execute(f'DROP TABLE IF EXISTS {fts}')
