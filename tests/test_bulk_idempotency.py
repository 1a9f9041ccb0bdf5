"""Bulk uploads for staff scripts (issue 6): Idempotency-Key.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import Session

from app.db import begin_write
from app.models import (
    data_version,
    idempotency_keys,
)
from tests.bulk_helpers import (
    CREATE_ONE,
    EVERYTHING,
    JSON_TYPE,
    KEY,
    an_upload_holds_its_key,
    assert_result,
    assert_rows_invalid,
    changes_after,
    initiative_row,
    json_bytes,
    last_change,
    must_evaluation,
    post_bulk,
    seed_plan_id,
    send_json,
    stored_keys,
    with_key,
)
from tests.conftest import Api
from tests.helpers import API, assert_problem, media_type, snapshot


def test_retry_with_same_key_replays_without_writing(api: Api) -> None:
    body = json_bytes(CREATE_ONE)

    first = post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api))

    first_answer = assert_result(first, created=1)
    (stored,) = stored_keys(api.engine)
    assert (stored["key"], stored["response_status"]) == (KEY, 200)
    assert json.loads(stored["response_body"]) == first_answer
    assert stored["expires_at"].replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=23)
    after_first = snapshot(api.engine, EVERYTHING)

    retry = post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api))

    # The replay: the first answer ("created"), not a second run's ("unchanged").
    assert retry.status_code == 200
    assert media_type(retry) == JSON_TYPE
    assert retry.content == first.content
    assert snapshot(api.engine, EVERYTHING) == after_first

    without_key = post_bulk(api, "evaluations", body, JSON_TYPE)

    assert_result(without_key, unchanged=1)


def test_same_key_with_another_body_is_refused(api: Api) -> None:
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    after_first = snapshot(api.engine, EVERYTHING)

    other = send_json(
        api,
        "evaluations",
        [{"code": "R7-1", "fiscal_year": 2025, "status": "not_achieved"}],
        headers=with_key(api),
    )

    body = assert_problem(other, 422)
    assert ["header", "Idempotency-Key"] in [error["loc"] for error in body["errors"]]
    assert snapshot(api.engine, EVERYTHING) == after_first
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == "achieved"


SCOPES = {
    # name: (path, query, token, items)
    "another path": ("initiatives", "", "editor", [{"code": "R7-1", "plan_page": 7}]),
    "another query": ("evaluations", "?plan_id={plan}", "editor", CREATE_ONE),
    "another token": ("evaluations", "", "admin", CREATE_ONE),
}


@pytest.mark.slow
@pytest.mark.parametrize("scope", list(SCOPES))
def test_same_key_in_another_scope_is_independent(api: Api, scope: str) -> None:
    table, query, token, items = SCOPES[scope]
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    query = query.format(plan=seed_plan_id(api.engine))

    other = send_json(
        api,
        table,
        items,
        query=query,
        headers=with_key(api, token=api.admin if token == "admin" else api.editor),
    )

    # A real run of its own: R7-1's page changes, or the evaluation is already there.
    if table == "initiatives":
        assert_result(other, updated=1)
        assert initiative_row(api.engine, "R7-1")["plan_page"] == 7
    else:
        assert_result(other, unchanged=1)
    assert len(stored_keys(api.engine)) == 2
    again = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert again.content == first.content


def test_error_answer_is_not_stored_and_fixed_body_succeeds(api: Api) -> None:
    broken = [*CREATE_ONE, {"code": "R7-10", "fiscal_year": 2025, "status": "済"}]
    fixed = [*CREATE_ONE, {"code": "R7-10", "fiscal_year": 2025, "status": "unconfirmed"}]
    before = snapshot(api.engine, EVERYTHING)

    refused = send_json(api, "evaluations", broken, headers=with_key(api))

    assert_rows_invalid(refused, {1: "status"})
    assert snapshot(api.engine, EVERYTHING) == before
    assert stored_keys(api.engine) == []

    accepted = send_json(api, "evaluations", fixed, headers=with_key(api))

    assert_result(accepted, created=2)
    assert [key["key"] for key in stored_keys(api.engine)] == [KEY]
    assert must_evaluation(api.engine, "R7-10", 2025)["status"] == "unconfirmed"
    replay = send_json(api, "evaluations", fixed, headers=with_key(api))
    assert replay.content == accepted.content


def test_dry_run_is_not_stored(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)

    dry = send_json(api, "evaluations", CREATE_ONE, query="?dry_run=true", headers=with_key(api))

    assert_result(dry, created=1, dry_run=True)
    assert snapshot(api.engine, EVERYTHING) == before

    real = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))

    assert_result(real, created=1)
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == "achieved"
    assert len(stored_keys(api.engine)) == 1


@pytest.mark.slow
def test_a_resend_while_the_first_runs_is_409_then_replays(api: Api) -> None:
    """API.md: "a retry while the first is still running → 409". The first upload is kept
    running by another writer holding the write lock. Its resend is told so at once, writes
    nothing and holds nothing up; an upload with another key is no such resend and waits its
    turn. Once the first is written, the resend replays its answer."""
    body = json_bytes(CREATE_ONE)
    other = json_bytes([{"code": "R7-10", "fiscal_year": 2025, "status": "not_achieved"}])
    since = last_change(api.engine)
    answers: dict[str, httpx.Response] = {}

    def send(name: str, content: bytes, key: str) -> None:
        headers = with_key(api, key)
        answers[name] = post_bulk(api, "evaluations", content, JSON_TYPE, headers=headers)

    with Session(api.engine) as holder:
        begin_write(holder)
        holder.execute(select(data_version.c.version).with_for_update())
        first = threading.Thread(target=send, args=("first", body, KEY))
        first.start()
        deadline = time.monotonic() + 30
        while not an_upload_holds_its_key(api.engine):  # and waits for the write lock
            assert "first" not in answers, answers["first"].text
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        resent = post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api))
        waited = time.monotonic() - started
        another = threading.Thread(target=send, args=("other", other, KEY + "-other"))
        another.start()
        time.sleep(0.3)
        assert "other" not in answers  # it waits for the lock, not refused
        holder.rollback()
    first.join(timeout=30)
    another.join(timeout=30)

    problem = assert_problem(resent, 409)
    assert problem["type"] == "urn:plan-progress:problem:idempotency-key-in-use"
    assert "still running" in problem["detail"]
    assert resent.headers["retry-after"] == "1"
    assert resent.headers["cache-control"] == "no-store"
    assert waited < 0.4, waited  # told at once, well before the first could end
    assert_result(answers["first"], created=1)
    assert answers["other"].status_code == 200, answers["other"].text
    assert len(stored_keys(api.engine)) == 2
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == "achieved"
    assert must_evaluation(api.engine, "R7-10", 2025)["status"] == "not_achieved"
    logged = changes_after(api.engine, since)
    assert [c["entity"] for c in logged] == ["evaluation", "evaluation"]  # one write each

    replayed = post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api))
    assert replayed.status_code == 200
    assert replayed.content == answers["first"].content
    assert changes_after(api.engine, since) == logged  # replayed, nothing written again


def test_replay_survives_a_restart(api: Api, make_client: Callable[[str], TestClient]) -> None:
    """The key is kept in the database: another process on it recognises the retry."""
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    after_first = snapshot(api.engine, EVERYTHING)
    restarted = make_client(api.engine.url.render_as_string(hide_password=False))

    retry = restarted.post(
        f"{API}/bulk/evaluations",
        content=json_bytes(CREATE_ONE),
        headers={**with_key(api), "Content-Type": JSON_TYPE},
    )

    assert retry.status_code == 200
    assert retry.content == first.content
    assert snapshot(api.engine, EVERYTHING) == after_first


def test_expired_key_is_not_replayed(api: Api) -> None:
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    with api.engine.begin() as connection:
        connection.execute(
            update(idempotency_keys).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    again = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))

    answer = assert_result(again, unchanged=1)  # run again, not the stored "created"
    (stored,) = stored_keys(api.engine)
    assert json.loads(stored["response_body"]) == answer
    assert stored["expires_at"].replace(tzinfo=UTC) > datetime.now(UTC)


@pytest.mark.parametrize("key", ["k" * 256, "キー"], ids=["too long", "not ASCII"])
def test_malformed_key_is_refused(api: Api, key: str) -> None:
    before = snapshot(api.engine, EVERYTHING)
    headers = {**api.editor, "Content-Type": JSON_TYPE}
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    response: httpx.Response = api.client.post(
        f"{API}/bulk/evaluations",
        content=json_bytes(CREATE_ONE),
        headers=httpx.Headers([*raw, (b"Idempotency-Key", key.encode("utf-8"))]),
    )

    body = assert_problem(response, 422)
    assert ["header", "Idempotency-Key"] in [error["loc"] for error in body["errors"]]
    assert snapshot(api.engine, EVERYTHING) == before
