"""Bulk uploads for staff scripts (issue 6): set-based writes, versions and the change log; limits
and auth.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.fields import as_utc
from app.main import create_app
from app.models import (
    evaluations,
    initiatives,
)
from tests.bulk_helpers import (
    CODES,
    CREATE_ONE,
    EVERYTHING,
    JSON_TYPE,
    MAX_ROWS,
    ORDINARY_BODY_LIMIT,
    Item,
    assert_result,
    changes_after,
    count,
    initiative_row,
    json_bytes,
    last_change,
    measure_id,
    must_evaluation,
    new_initiative,
    post_bulk,
    row_outcomes,
    send_csv,
    send_json,
    versions,
)
from tests.conftest import Api, etag
from tests.helpers import API, assert_problem, snapshot


def test_versions_and_change_log_follow_only_what_changed(api: Api) -> None:
    ids = {code: initiative_row(api.engine, code)["id"] for code in ("R6-7", "R6-10", "R7-1")}
    initiative_versions = versions(api.engine, initiatives)
    evaluation_versions = versions(api.engine, evaluations)
    r6_7 = must_evaluation(api.engine, "R6-7", 2024)
    r6_10 = must_evaluation(api.engine, "R6-10", 2024)
    since = last_change(api.engine)

    response = send_json(
        api,
        "evaluations",
        [
            {"code": "R6-7", "fiscal_year": 2024, "status": "not_achieved"},
            {"code": "R6-10", "fiscal_year": 2024, "status": "achieved"},
            {"code": "R7-1", "fiscal_year": 2025, "status": "unconfirmed", "actual_value": 2},
        ],
    )

    body = assert_result(response, created=1, updated=1, unchanged=1)
    assert [row["action"] for row in body["rows"]] == ["updated", "unchanged", "created"]
    created = must_evaluation(api.engine, "R7-1", 2025)
    assert created["version"] == 1
    assert must_evaluation(api.engine, "R6-7", 2024)["version"] == r6_7["version"] + 1
    assert must_evaluation(api.engine, "R6-10", 2024) == r6_10
    assert versions(api.engine, evaluations) == evaluation_versions | {
        r6_7["id"]: r6_7["version"] + 1,
        created["id"]: 1,
    }
    # Writing an evaluation moves its initiative's version on; R6-10's stays.
    assert versions(api.engine, initiatives) == initiative_versions | {
        ids["R6-7"]: initiative_versions[ids["R6-7"]] + 1,
        ids["R7-1"]: initiative_versions[ids["R7-1"]] + 1,
    }
    shown = api.client.get(f"{API}/initiatives/{ids['R6-7']}")
    assert shown.headers["etag"] == etag(ids["R6-7"], initiative_versions[ids["R6-7"]] + 1)
    assert shown.json()["latest_evaluation"]["status"] == "not_achieved"

    entries = changes_after(api.engine, since)
    assert {(entry["actor"], entry["entity"]) for entry in entries} == {("editor", "evaluation")}
    by_row = {entry["entity_id"]: entry for entry in entries}
    assert set(by_row) == {r6_7["id"], created["id"]}
    assert by_row[r6_7["id"]]["action"] == "update"
    assert by_row[r6_7["id"]]["changes"] == {"status": ["achieved", "not_achieved"]}
    assert by_row[created["id"]]["action"] == "create"
    assert by_row[created["id"]]["changes"] == by_row[created["id"]]["changes"] | {
        "initiative_id": [None, ids["R7-1"]],
        "fiscal_year": [None, 2025],
        "status": [None, "unconfirmed"],
        "actual_value": [None, 2],
    }
    # The feed serves the entries as written (on PostgreSQL they go in by COPY): the same
    # ids, the diff as JSON, and the moment the rows were written.
    feed = api.client.get(f"{API}/changes", params={"since": since})
    assert feed.status_code == 200
    served = {item["entity_id"]: item for item in feed.json()["items"]}
    assert set(served) == set(by_row)
    assert served[r6_7["id"]]["changes"] == {"status": ["achieved", "not_achieved"]}
    assert served[created["id"]]["changes"] == by_row[created["id"]]["changes"]
    assert served[created["id"]]["actor"] == "editor"
    written_at = must_evaluation(api.engine, "R7-1", 2025)["updated_at"]
    assert {item["at"] for item in served.values()} == {
        as_utc(written_at).isoformat().replace("+00:00", "Z")
    }


def test_initiative_update_logs_only_changed_fields(api: Api) -> None:
    r7_1 = initiative_row(api.engine, "R7-1")
    r7_10 = initiative_row(api.engine, "R7-10")
    since = last_change(api.engine)

    response = send_json(
        api,
        "initiatives",
        [
            {"code": "R7-1", "title": r7_1["title"], "target_value": 100, "target_unit": "件"},
            {"code": "R7-10", "title": r7_10["title"], "plan_page": r7_10["plan_page"]},
        ],
    )

    assert assert_result(response, updated=1, unchanged=1)["rows"] == [
        {"row": 0, "code": "R7-1", "action": "updated"},
        {"row": 1, "code": "R7-10", "action": "unchanged"},
    ]
    after = initiative_row(api.engine, "R7-1")
    assert after["version"] == r7_1["version"] + 1
    assert after["updated_at"] != r7_1["updated_at"]
    assert initiative_row(api.engine, "R7-10") == r7_10
    (entry,) = changes_after(api.engine, since)
    assert (entry["actor"], entry["action"], entry["entity_id"]) == ("editor", "update", r7_1["id"])
    assert entry["changes"] == {"target_value": [None, 100], "target_unit": [None, "件"]}


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every statement sent to the database meanwhile."""
    sent: list[str] = []

    def record(
        _connection: Any,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def bulk_upload(table: str, codes: Sequence[str], round_: int) -> list[Item]:
    if table == "initiatives":
        return [
            new_initiative(code, index, plan_page=round_ + 1) for index, code in enumerate(codes)
        ]
    status = ["achieved", "not_achieved"][round_ % 2]
    return [{"code": code, "fiscal_year": 2025, "status": status} for code in codes]


@pytest.mark.slow
@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_statements_do_not_grow_with_rows(api: Api, table: str) -> None:
    """A constant number of statements per chunk of rows: 10 rows and 1,000 take as many."""
    few = [f"R7-{1000 + index}" for index in range(10)]
    many = [f"R7-{2000 + index}" for index in range(1000)]
    if table == "evaluations":
        assert_result(
            send_json(api, "initiatives", bulk_upload("initiatives", [*few, *many], 0)),
            created=len(few) + len(many),
        )
    counted: dict[tuple[str, int], int] = {}
    for round_, action in enumerate(["created", "updated"]):
        for name, codes in (("few", few), ("many", many)):
            with statements(api.engine) as sent:
                response = send_json(api, table, bulk_upload(table, codes, round_ + 1))
            answer = assert_result(
                response,
                created=len(codes) if action == "created" else 0,
                updated=len(codes) if action == "updated" else 0,
            )
            assert {row["action"] for row in answer["rows"]} == {action}
            counted[(name, round_)] = len(sent)
    assert counted[("few", 0)] == counted[("many", 0)], counted
    assert counted[("few", 1)] == counted[("many", 1)], counted
    assert max(counted.values()) < 50, counted


@pytest.mark.parametrize(
    ("table", "form"),
    [("initiatives", "json"), ("initiatives", "csv"), ("evaluations", "json")],
)
def test_more_than_10000_rows_is_413(api: Api, table: str, form: str) -> None:
    codes = [f"R7-{1000 + index}" for index in range(MAX_ROWS + 1)]
    before = snapshot(api.engine, EVERYTHING)

    if form == "json":
        response = send_json(api, table, bulk_upload(table, codes, 0))
    else:
        rows = [[code, f"取組 {code}", "1", "1"] for code in codes]
        response = send_csv(api, table, ["取組番号", "取組事項", "基本方針番号", "施策番号"], rows)

    body = assert_problem(response, 413)

    assert "10,000" in body["detail"] or "10000" in body["detail"], body
    assert snapshot(api.engine, EVERYTHING) == before
    assert count(api.engine, initiatives) == len(CODES)


@pytest.mark.slow
def test_10000_rows_are_written(api: Api) -> None:
    codes = [f"R7-{1000 + index}" for index in range(MAX_ROWS)]
    since = last_change(api.engine)

    response = send_json(api, "initiatives", bulk_upload("initiatives", codes, 0))

    body = assert_result(response, created=MAX_ROWS)
    assert body["rows"] == row_outcomes(codes, "created")
    assert count(api.engine, initiatives) == len(CODES) + MAX_ROWS
    with api.engine.connect() as connection:
        written = dict(
            connection.execute(
                select(initiatives.c.code, initiatives.c.measure_id).where(
                    initiatives.c.code.in_(codes[::997])
                )
            ).all()
        )
    assert written == {
        code: measure_id(api.engine, index % 3 + 1, index // 3 % 3 + 1)
        for index, code in enumerate(codes)
        if index % 997 == 0
    }
    entries = changes_after(api.engine, since)
    assert len(entries) == MAX_ROWS
    assert {(entry["actor"], entry["action"], entry["entity"]) for entry in entries} == {
        ("editor", "create", "initiative")
    }


def large_body(rows: int, chars: int) -> bytes:
    return json_bytes(
        [
            new_initiative(f"R7-{3000 + index}", index, description="あ" * chars)
            for index in range(rows)
        ]
    )


def test_bulk_body_over_the_ordinary_limit_is_accepted(api: Api) -> None:
    body = large_body(250, 3000)
    assert len(body) > 2 * ORDINARY_BODY_LIMIT

    ordinary = api.client.post(
        f"{API}/initiatives",
        content=body,
        headers={**api.editor, "Content-Type": JSON_TYPE},
    )
    bulk = post_bulk(api, "initiatives", body, JSON_TYPE)

    assert_problem(ordinary, 413)
    assert_result(bulk, created=250)
    assert initiative_row(api.engine, "R7-3249")["description"] == "あ" * 3000


def test_bulk_body_limit_is_configurable(fresh_url: str) -> None:
    limit = 64 * 1024
    application = create_app(Settings(database_url=fresh_url, max_bulk_body_bytes=limit))
    engine: Engine = application.state.engine
    with Session(engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    editor = {"Authorization": f"Bearer {token}", "Content-Type": JSON_TYPE}
    over, under = large_body(10, 3000), large_body(5, 3000)
    assert len(under) < limit < len(over)
    try:
        with TestClient(application) as client:
            before = snapshot(engine, EVERYTHING)
            refused = client.post(f"{API}/bulk/initiatives", content=over, headers=editor)
            anonymous = client.post(
                f"{API}/bulk/initiatives", content=over, headers={"Content-Type": JSON_TYPE}
            )
            after_refusals = snapshot(engine, EVERYTHING)
            accepted = client.post(f"{API}/bulk/initiatives", content=under, headers=editor)
    finally:
        engine.dispose()

    assert f"{limit:,}" in assert_problem(refused, 413)["detail"]
    assert_problem(anonymous, 413)  # the size is checked before the token
    assert after_refusals == before
    assert_result(accepted, created=5)


UNAUTHORIZED = {
    "no token": {},
    "unknown token": {"Authorization": "Bearer not-a-token-anybody-made"},
}


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
@pytest.mark.parametrize("who", list(UNAUTHORIZED))
def test_no_token_is_401(api: Api, table: str, who: str) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(api, table, bulk_upload(table, ["R7-1"], 1), headers=UNAUTHORIZED[who])

    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert snapshot(api.engine, EVERYTHING) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_media_types_are_refused(api: Api, content_type: str) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = post_bulk(api, "evaluations", json_bytes(CREATE_ONE), content_type)

    assert_problem(response, 415)
    assert snapshot(api.engine, EVERYTHING) == before


# Text and numbers a statement could bend: quotes, backslashes, JSON and placeholders in
# text, line breaks and tabs where text may hold them, characters outside the BMP, and
# floats with no short decimal form. On PostgreSQL a chunk of rows travels as one JSON
# document (app/bulk/common.py, as_table); every value must come out as it went in.
AWKWARD_TEXT = [
    "say \"hello\" and 'bye'",
    "C:\\path\\n\\u0041 \\\\",
    '{"items": [1, 2]} [null]',
    "%s %(name)s $1 ? :param",
    "行政経営プラン 🎌 𠮷野家",
    "",
]
AWKWARD_NUMBERS = [0.1, 1e-7, -12345.678, 1e15, 0.0, 2.5e-300]


def test_awkward_values_are_written_as_sent(api: Api) -> None:
    codes = [f"R7-{100 + index}" for index in range(len(AWKWARD_TEXT))]
    created = [
        new_initiative(
            code,
            index,
            title=f"取組 {text}".strip(),
            description=f"一行目\n\t{text}",
            target_value=AWKWARD_NUMBERS[index],
            target_unit=text or None,
            numeric_target=index % 2 == 0,
            plan_page=index + 1,
        )
        for index, (code, text) in enumerate(zip(codes, AWKWARD_TEXT, strict=True))
    ]
    assert_result(send_json(api, "initiatives", created), created=len(codes))
    # Then an update of every row: other values, the description cleared.
    updated = [
        {
            "code": code,
            "title": f"改 {text}".strip(),
            "description": None,
            "target_value": -AWKWARD_NUMBERS[index],
            "numeric_target": index % 2 == 1,
        }
        for index, (code, text) in enumerate(zip(codes, reversed(AWKWARD_TEXT), strict=True))
    ]
    assert_result(send_json(api, "initiatives", updated), updated=len(codes))
    evaluated = [
        {
            "code": code,
            "fiscal_year": 2025,
            "status": "unconfirmed",
            "actual_value": AWKWARD_NUMBERS[index],
            "result": AWKWARD_TEXT[index] or None,
            "source": f"出典\r\n{AWKWARD_TEXT[-1 - index]}",
        }
        for index, code in enumerate(codes)
    ]
    assert_result(send_json(api, "evaluations", evaluated), created=len(codes))

    for index, code in enumerate(codes):
        row = initiative_row(api.engine, code)
        expected = created[index] | updated[index]
        assert {name: row[name] for name in ("title", "description", "target_value")} == {
            name: expected[name] for name in ("title", "description", "target_value")
        }
        assert row["target_unit"] == created[index]["target_unit"]
        assert row["numeric_target"] is updated[index]["numeric_target"]
        assert row["plan_page"] == index + 1
        assert row["version"] == 3  # created, updated, then its evaluation written
        evaluation = must_evaluation(api.engine, code, 2025)
        assert {name: evaluation[name] for name in ("actual_value", "result", "source")} == {
            name: evaluated[index][name] for name in ("actual_value", "result", "source")
        }
        shown = api.client.get(f"{API}/initiatives/{row['id']}").json()
        assert shown["title"] == expected["title"]
        assert shown["target_value"] == expected["target_value"]
        assert shown["latest_evaluation"]["result"] == evaluated[index]["result"]


def test_a_row_changed_since_it_was_read_fails_the_upload_with_409(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writes match each row's version as planned; a row whose version moved between the
    plan and the write makes the whole upload 409, and nothing of it is kept."""
    from app.bulk import router
    from app.bulk.evaluations import plan_evaluations as planner

    changed = must_evaluation(api.engine, "R6-7", 2024)

    def plan_then_change(session: Session, *args: Any) -> Any:
        planned = planner(session, *args)
        # As if another writer changed the row after it was read (the same transaction, so
        # this change is rolled back with the upload's).
        session.execute(
            evaluations.update()
            .where(evaluations.c.id == changed["id"])
            .values(version=evaluations.c.version + 1)
        )
        return planned

    monkeypatch.setattr(router, "plan_evaluations", plan_then_change)
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(
        api,
        "evaluations",
        [
            {"code": "R6-10", "fiscal_year": 2024, "status": "not_achieved"},
            {"code": "R6-7", "fiscal_year": 2024, "status": "not_achieved"},
            {"code": "R7-1", "fiscal_year": 2025, "status": "achieved"},
        ],
    )

    assert_problem(response, 409)
    assert snapshot(api.engine, EVERYTHING) == before
