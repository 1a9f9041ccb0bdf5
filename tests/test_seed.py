"""Seeding the Kanazawa plan: what lands in the database, and that a second run changes nothing."""

import pytest
from sqlalchemy import Engine, create_engine, select, update
from sqlmodel import Session

from app import migrate
from app.models import evaluations, initiatives, plans, report_lines
from app.seed import seed
from tests.helpers import snapshot


@pytest.mark.slow
def test_a_second_seed_changes_no_row_and_no_version(scratch_url: str) -> None:
    migrate.upgrade(scratch_url)
    engine = create_engine(scratch_url)
    try:
        with Session(engine) as session:
            first = seed(session)
        before = snapshot(engine)
        with Session(engine) as session:
            second = seed(session)
        assert snapshot(engine) == before
    finally:
        engine.dispose()
    assert first.created == {
        "plans": 1,
        "policies": 3,
        "measures": 9,
        "initiatives": 18,
        "evaluations": 9,
        "reports": 1,
        "report_lines": 3,
        "report_highlights": 18,
    }
    assert second.created == {}
    assert second.existing == first.created


@pytest.mark.slow
def test_seeding_never_overwrites_an_edited_row(scratch_url: str) -> None:
    migrate.upgrade(scratch_url)
    engine = create_engine(scratch_url)
    try:
        with Session(engine) as session:
            seed(session)
            session.execute(
                update(initiatives).where(initiatives.c.code == "R6-7").values(title="編集済み")
            )
            session.commit()
            seed(session)
        with engine.connect() as connection:
            title = connection.scalar(
                select(initiatives.c.title).where(initiatives.c.code == "R6-7")
            )
    finally:
        engine.dispose()
    assert title == "編集済み"


def test_inferred_facts_are_marked_in_the_data(engine: Engine) -> None:
    with engine.connect() as connection:
        plan = connection.execute(select(plans)).mappings().one()
        rows = connection.execute(
            select(initiatives.c.code, evaluations.c.status, evaluations.c.source).join(
                initiatives, initiatives.c.id == evaluations.c.initiative_id
            )
        ).all()
        lines = connection.execute(select(report_lines.c["items"], report_lines.c.achieved)).all()
    assert plan["municipality_code"] == "172014"
    assert "172014" in plan["source"] and "記載がなく" in plan["source"]
    statuses = {code: status for code, status, _ in rows}
    assert statuses.pop("R6-33") is None
    assert set(statuses.values()) == {"achieved"}
    assert all("推定" in source for code, _, source in rows if code != "R6-33")
    assert sum(items for items, _ in lines) == 124
    assert sum(achieved for _, achieved in lines) == 108
