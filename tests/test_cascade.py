"""Deletes take with them what the models' foreign keys say (app/writes.py)."""

from sqlmodel import SQLModel

from app.changes.recorder import ENTITIES
from app.models import policies
from app.writes import _TABLES, _cascades, _descendants


def test_every_parent_is_listed_before_its_children() -> None:
    order = [model.__table__.name for model in ENTITIES]  # type: ignore[attr-defined]
    for name, (table, _) in _TABLES.items():
        for _, parent in _cascades(table):
            assert order.index(parent) < order.index(name), (parent, name)


def test_every_cascading_foreign_key_between_content_tables_is_followed() -> None:
    content = set(_TABLES)
    declared = {
        (table.name, key.column.table.name)
        for table in SQLModel.metadata.tables.values()
        if table.name in content
        for key in table.foreign_keys
        if key.column.table.name in content
    }
    followed = {
        (name, parent) for name, (table, _) in _TABLES.items() for _, parent in _cascades(table)
    }
    assert followed == declared
    assert ("report_lines", "policies") in followed  # reached from a policy, not only a report


def test_a_policy_takes_its_measures_initiatives_evaluations_and_report_lines() -> None:
    found = _descendants(policies, 7)
    assert list(found) == [
        "measures",
        "initiatives",
        "evaluations",
        "report_lines",
        "report_highlights",
    ]
    sql = str(found["evaluations"].compile(compile_kwargs={"literal_binds": True}))
    assert "initiatives.measure_id IN" in sql and "measures.policy_id = 7" in sql
