"""provenance as data: evaluations, report lines, and the facts of plans and reports

Revision ID: 9b4f1d2c7a60
Revises: 5e1c2a7b9d30
Create Date: 2026-12-06 12:00:00

Adds `provenance` (app/provenance.py) and fills it from what the rows already say:

- An evaluation whose source says its status was inferred (推定) or left blank by judgement
  (空欄) is `inferred`; every other is `external` (a status recorded by staff).
- A report line is `stated`, except a 0 unconfirmed in a table that marks unconfirmed items
  on other lines (Kanazawa's ※うち 2 項目は数値未確定 on policy 3 only): the document does not
  state that 0, so it is `inferred`.
- A plan that names its source document has its title, name, philosophy and period `stated`;
  its 団体コード and licence, which no progress report states, are `external`; a plan without
  a source is `external` throughout.
- A report with a source has its title and a publication date it holds `stated`, and its fiscal year
  `inferred` when the source says so (推定), else `stated`; without a source, `external`.

It also gives the Kanazawa report its published document's name: the seed stored the
section heading (取組事項の達成率) as the report's title, where the document is
金沢市行政経営プランの取組状況等について. The downgrade leaves that name.

The columns are added in place, not by rebuilding the tables on SQLite: a rebuild would drop
the search triggers of evaluations (20261206_5e1c2a7b9d30).
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9b4f1d2c7a60'
down_revision: str | None = '5e1c2a7b9d30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "provenance IN ('stated', 'inferred', 'external')"
DOCUMENT = '金沢市行政経営プランの取組状況等について'


def _add_provenance(table: str, default: str) -> None:
    name = f'ck_{table}_provenance_known'
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN provenance VARCHAR(16) DEFAULT '{default}' NOT NULL"
            f' CONSTRAINT {name} CHECK ({CHECK})'
        )
    else:
        op.add_column(
            table,
            sa.Column('provenance', sa.String(16), server_default=default, nullable=False),
        )
        op.create_check_constraint(name, table, CHECK)


def _plan_facts(source: str | None, _: object) -> dict[str, str]:
    stated = 'stated' if source else 'external'
    return {
        'title': stated,
        'municipality_code': 'external',
        'municipality_name': stated,
        'philosophy': stated,
        'start_fiscal_year': stated,
        'end_fiscal_year': stated,
        'license': 'external',
    }


def _report_facts(source: str | None, published_on: object) -> dict[str, str]:
    if not source:
        return dict.fromkeys(('fiscal_year', 'title', 'published_on'), 'external')
    year = 'inferred' if '推定' in source else 'stated'
    published = 'stated' if published_on is not None else 'external'
    return {'fiscal_year': year, 'title': 'stated', 'published_on': published}


def _fill_facts(table: str, facts: object, other: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f'SELECT id, source, {other} FROM {table}')).all()
    update = sa.text(f'UPDATE {table} SET provenance = :facts WHERE id = :id').bindparams(
        sa.bindparam('facts', type_=sa.JSON)
    )
    for row_id, source, value in rows:
        bind.execute(update, {'id': row_id, 'facts': facts(source, value)})  # type: ignore[operator]


def upgrade() -> None:
    _add_provenance('evaluations', 'external')
    _add_provenance('report_lines', 'stated')
    for table in ('plans', 'reports'):
        op.add_column(
            table, sa.Column('provenance', sa.JSON(), server_default='{}', nullable=False)
        )
    op.execute(
        "UPDATE evaluations SET provenance = 'inferred'"
        " WHERE source LIKE '%推定%' OR source LIKE '%空欄%'"
    )
    op.execute(
        "UPDATE report_lines SET provenance = 'inferred' WHERE unconfirmed = 0 AND EXISTS"
        ' (SELECT 1 FROM report_lines AS marked WHERE marked.report_id = report_lines.report_id'
        ' AND marked.unconfirmed > 0)'
    )
    _fill_facts('plans', _plan_facts, 'id')
    _fill_facts('reports', _report_facts, 'published_on')
    op.execute(
        f"UPDATE reports SET title = '{DOCUMENT}' WHERE title = '取組事項の達成率'"
        f" AND source LIKE '%「{DOCUMENT}」%'"
    )


def downgrade() -> None:
    for table in ('plans', 'reports'):
        op.drop_column(table, 'provenance')
    for table in ('report_lines', 'evaluations'):
        if op.get_bind().dialect.name != 'sqlite':
            op.drop_constraint(f'ck_{table}_provenance_known', table, type_='check')
        op.execute(f'ALTER TABLE {table} DROP COLUMN provenance')
