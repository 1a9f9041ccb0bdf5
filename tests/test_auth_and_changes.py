"""Tokens (CLI and HTTP), who may write what, and the change log that records every write.

What a person sees: the CLI's output and exit status, the HTTP status, headers and
problem+json bodies, the /changes feed; and what the database holds afterwards.
"""

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, Table, create_engine, func, select
from sqlmodel import Session

from app.auth.tokens import Role, create_token, revoke_token
from app.models import (
    api_tokens,
    changes,
    evaluations,
    initiatives,
    measures,
    plans,
    policies,
    report_highlights,
    report_lines,
    reports,
)
from tests.conftest import Api, wait_until_ready
from tests.helpers import child_env, feed, free_port, snapshot

PROBLEM_JSON = "application/problem+json"
API = "/api/v1"
JST = timezone(timedelta(hours=9))

# Entity names as the feed spells them, and the tables they live in.
TABLES: dict[str, Table] = {
    "plan": plans,
    "policy": policies,
    "measure": measures,
    "initiative": initiatives,
    "evaluation": evaluations,
    "report": reports,
    "report_line": report_lines,
    "report_highlight": report_highlights,
}
# What a refused request must leave as it was: the content, the change log and the tokens.
SNAPSHOT_TABLES: tuple[Table, ...] = (*TABLES.values(), changes, api_tokens)
SEED_COUNTS = {
    "plan": 1,
    "policy": 3,
    "measure": 9,
    "initiative": 18,
    "evaluation": 9,
    "report": 1,
    "report_line": 3,
    "report_highlight": 18,
}
SEED_TOTAL = sum(SEED_COUNTS.values())  # 62
# Columns that change with every write and say nothing new: never in a change entry.
BOOKKEEPING = frozenset({"id", "version", "created_at", "updated_at", "search_text", "code_sort"})
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)")
DIGEST = re.compile(r"[0-9a-f]{64}")

NEW_PLAN: dict[str, Any] = {
    "slug": "toyama-2024-2027",
    "title": "富山市行政経営プラン",
    "municipality_code": "162019",
    "municipality_name": "富山市",
    "start_fiscal_year": "令和6年度",
    "end_fiscal_year": "R9",
}


# --- helpers -------------------------------------------------------------------------------


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check a problem+json answer with this status and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body


def _assert_challenge(response: httpx.Response) -> None:
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _headers(api: Api, kind: str) -> dict[str, str]:
    """Authorization headers by kind: a role's token, none, or one the service never made."""
    return {
        "editor": api.editor,
        "admin": api.admin,
        "none": {},
        "bogus": _bearer("ppa_" + "x" * 43),
    }[kind]


def _ids(engine: Engine) -> set[tuple[str, int]]:
    with engine.connect() as connection:
        return {
            (entity, row_id)
            for entity, table in TABLES.items()
            for row_id in connection.scalars(select(table.c.id))
        }


def _row(engine: Engine, entity: str, row_id: int) -> dict[str, Any] | None:
    table = TABLES[entity]
    with engine.connect() as connection:
        row = connection.execute(select(table).where(table.c.id == row_id)).mappings().first()
    return dict(row) if row is not None else None


def _token_row(engine: Engine, name: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(select(api_tokens).where(api_tokens.c.name == name)).mappings()
        rows = [dict(item) for item in row]
    assert len(rows) == 1, rows
    return rows[0]


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _change_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(changes)) or 0


def _write(client: TestClient, headers: dict[str, str], note: str) -> httpx.Response:
    """A small write any editor may make: the plan's philosophy."""
    response: httpx.Response = client.patch(
        f"{API}/plans/1", json={"philosophy": note}, headers=headers
    )
    return response


def _philosophy(engine: Engine) -> str | None:
    row = _row(engine, "plan", 1)
    assert row is not None
    value: str | None = row["philosophy"]
    return value


# --- the command line ----------------------------------------------------------------------


def _cli(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=child_env(DATABASE_URL=url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _create(url: str, cwd: Path, name: str, *extra: str, role: str = "editor") -> str:
    """Make a token with the CLI and return the secret it printed on its last line."""
    result = _cli(url, cwd, "tokens", "create", "--name", name, "--role", role, *extra)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.splitlines()[-1]
    assert secret and secret == secret.strip() and " " not in secret
    return secret


def _listed(url: str, cwd: Path) -> tuple[str, dict[str, list[str]]]:
    """Run `tokens list`; return its output and each token's line split into words."""
    result = _cli(url, cwd, "tokens", "list")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    return result.stdout, lines


@pytest.mark.slow
def test_create_prints_the_secret_alone_on_the_last_line_and_it_writes(
    api: Api, fresh_url: str, tmp_path: Path
) -> None:
    result = _cli(
        fresh_url, tmp_path, "tokens", "create", "--name", "kikaku-ka", "--role", "editor"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    secret = lines[-1]
    assert re.fullmatch(r"\S{32,}", secret), lines  # alone on its line, long enough to be random
    assert result.stdout.count(secret) == 1
    assert secret not in result.stderr
    assert "kikaku-ka" in result.stdout  # it says what was made

    response = api.client.post(f"{API}/plans", json=NEW_PLAN, headers=_bearer(secret))

    assert response.status_code == 201, response.text
    with api.engine.connect() as connection:
        title = connection.scalar(select(plans.c.title).where(plans.c.slug == NEW_PLAN["slug"]))
    assert title == NEW_PLAN["title"]
    (entry,) = feed(api.client, SEED_TOTAL)
    assert (entry["actor"], entry["action"], entry["entity"], entry["entity_id"]) == (
        "kikaku-ka",
        "create",
        "plan",
        response.json()["id"],
    )


@pytest.mark.slow
def test_only_a_digest_is_stored_and_no_secret_reaches_the_log_or_the_feed(
    api: Api, fresh_url: str, tmp_path: Path
) -> None:
    secret = _create(fresh_url, tmp_path, "toukei", role="admin")
    headers = _bearer(secret)
    assert _write(api.client, headers, "秘密を漏らさない").status_code == 200
    assert api.client.post(f"{API}/plans", json=NEW_PLAN, headers=headers).status_code == 201
    assert api.client.delete(f"{API}/plans/1?cascade=true", headers=headers).status_code == 204

    row = _token_row(api.engine, "toukei")
    assert DIGEST.fullmatch(row["digest"])
    assert row["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["role"] == "admin"
    # The secret is nowhere in the database: no column of any table holds it.
    metadata = MetaData()
    metadata.reflect(api.engine)
    assert {"api_tokens", "changes"} <= set(metadata.tables)
    with api.engine.connect() as connection:
        for table in metadata.tables.values():
            for values in connection.execute(select(table)):
                assert not any(secret in str(value) for value in values), table.name
    # Neither the secret nor its digest (nor the fixture tokens') is in the public feed.
    feed = api.client.get(f"{API}/changes", params={"since": 0, "limit": 500}).text
    assert json.loads(feed)["items"][-1]["actor"] == "toukei"
    fixture_secrets = [header["Authorization"].split()[1] for header in (api.editor, api.admin)]
    for value in (secret, row["digest"], *fixture_secrets):
        assert value not in feed
        assert hashlib.sha256(value.encode()).hexdigest() not in feed
    # Nor in `tokens list`.
    listing, _ = _listed(fresh_url, tmp_path)
    assert secret not in listing


@pytest.mark.slow
def test_tokens_list_shows_name_role_and_state_never_the_secret(
    api: Api, fresh_url: str, tmp_path: Path
) -> None:
    secrets = [
        _create(fresh_url, tmp_path, "kikaku-ka"),
        _create(fresh_url, tmp_path, "joho-ka", "--expires", "30d", role="admin"),
    ]
    assert secrets[0] != secrets[1]
    # The other states are made in-process (each CLI run costs a second or two).
    with Session(api.engine) as session:
        secrets.append(
            create_token(
                session, name="old", role=Role.editor, expires_at=datetime(2000, 1, 1, tzinfo=UTC)
            )
        )
        secrets.append(create_token(session, name="gone", role=Role.editor))
        assert revoke_token(session, name="gone")

    listing, lines = _listed(fresh_url, tmp_path)

    assert [lines[name][1:3] for name in ("kikaku-ka", "joho-ka", "old", "gone")] == [
        ["editor", "active"],
        ["admin", "active"],
        ["editor", "expired"],
        ["editor", "revoked"],
    ]
    for secret in secrets:
        assert secret not in listing


@pytest.mark.slow
def test_a_revoked_token_is_refused(api: Api, fresh_url: str, tmp_path: Path) -> None:
    secret = _create(fresh_url, tmp_path, "kikaku-ka")
    assert _write(api.client, _bearer(secret), "取消前").status_code == 200

    revoked = _cli(fresh_url, tmp_path, "tokens", "revoke", "kikaku-ka")

    assert revoked.returncode == 0, revoked.stderr
    assert _token_row(api.engine, "kikaku-ka")["revoked_at"] is not None
    before = snapshot(api.engine, SNAPSHOT_TABLES)
    _assert_challenge(_write(api.client, _bearer(secret), "取消後"))
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before
    assert _philosophy(api.engine) == "取消前"
    # The fixture's editor token, revoked by nobody, still works.
    assert _write(api.client, api.editor, "他の鍵").status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("revoke_first", [False, True], ids=["unknown", "already revoked"])
def test_revoking_a_name_without_an_active_token_fails(
    api: Api, fresh_url: str, tmp_path: Path, revoke_first: bool
) -> None:
    if revoke_first:
        with Session(api.engine) as session:
            create_token(session, name="kikaku-ka", role=Role.editor)
            assert revoke_token(session, name="kikaku-ka")
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    result = _cli(fresh_url, tmp_path, "tokens", "revoke", "kikaku-ka" if revoke_first else "dare")

    assert result.returncode != 0
    assert result.stderr.strip()
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.slow
def test_a_duplicate_name_is_refused_and_the_first_token_kept(
    api: Api, fresh_url: str, tmp_path: Path
) -> None:
    with Session(api.engine) as session:
        first = create_token(session, name="kikaku-ka", role=Role.editor)
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    again = _cli(fresh_url, tmp_path, "tokens", "create", "--name", "kikaku-ka", "--role", "admin")

    assert again.returncode != 0
    assert "kikaku-ka" in again.stderr
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before
    row = _token_row(api.engine, "kikaku-ka")
    assert (row["role"], row["digest"]) == ("editor", hashlib.sha256(first.encode()).hexdigest())
    assert _write(api.client, _bearer(first), "最初の鍵").status_code == 200


@pytest.mark.slow
def test_a_revoked_tokens_name_can_be_given_again(api: Api, fresh_url: str, tmp_path: Path) -> None:
    """A person whose token was revoked gets a new one under their own name; the revoked
    token stays listed, and still opens nothing."""
    with Session(api.engine) as session:
        old = create_token(session, name="kikaku-ka", role=Role.editor)
        assert revoke_token(session, name="kikaku-ka")

    again = _cli(fresh_url, tmp_path, "tokens", "create", "--name", "kikaku-ka", "--role", "admin")

    assert again.returncode == 0, again.stderr
    new = again.stdout.strip().splitlines()[-1]
    assert _write(api.client, _bearer(new), "新しい鍵").status_code == 200
    assert _write(api.client, _bearer(old), "古い鍵").status_code == 401
    listed = _cli(fresh_url, tmp_path, "tokens", "list").stdout.splitlines()
    assert sorted(line.split("\t")[2] for line in listed if line.startswith("kikaku-ka\t")) == [
        "active",
        "revoked",
    ]
    # Only one in force at a time: a third is refused while the new one holds the name.
    third = _cli(fresh_url, tmp_path, "tokens", "create", "--name", "kikaku-ka", "--role", "editor")
    assert third.returncode != 0
    assert "revoke it first" in third.stderr


_NOW = datetime.now(UTC)
_LATER = _NOW.year + 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("expires", "duration"),
    [
        pytest.param("1h", timedelta(hours=1), id="1h"),
        pytest.param("30d", timedelta(days=30), id="30d"),
        pytest.param(f"{_LATER}-03-31", None, id="date"),
        pytest.param(f"{_LATER}-03-31T12:00:00Z", None, id="UTC time"),
        # 2 years on, 09:00 in Japan: midnight UTC.
        pytest.param(f"{_LATER}-04-01T09:00:00+09:00", None, id="Japan time"),
    ],
)
def test_a_token_with_a_future_expiry_works_until_then(
    api: Api, fresh_url: str, tmp_path: Path, expires: str, duration: timedelta | None
) -> None:
    started = datetime.now(UTC)
    secret = _create(fresh_url, tmp_path, "kikaku-ka", "--expires", expires)
    finished = datetime.now(UTC)

    stored = _as_utc(_token_row(api.engine, "kikaku-ka")["expires_at"])
    if duration is None:
        assert stored == _as_utc(datetime.fromisoformat(expires))
    else:
        assert started + duration - timedelta(seconds=1) <= stored <= finished + duration
    assert _write(api.client, _bearer(secret), "期限付き").status_code == 200
    assert _philosophy(api.engine) == "期限付き"


# Moments already past, written as a date, a clock in Japan, and an hour ago in UTC and in
# Japan: the CLI refuses to make a token expiring then, and a token that has expired (made
# earlier, through the library) is refused.
PAST = [
    "2000-01-01",
    "2000-01-01T00:00:00+09:00",
    pytest.param((_NOW - timedelta(hours=1)).isoformat(timespec="seconds"), id="UTC hour ago"),
    pytest.param(
        (_NOW - timedelta(hours=1)).astimezone(JST).isoformat(timespec="seconds"),
        id="Japan hour ago",
    ),
]


@pytest.mark.parametrize("expires", PAST)
def test_an_expired_token_is_refused(api: Api, expires: str) -> None:
    moment = datetime.fromisoformat(expires)
    with Session(api.engine) as session:
        secret = create_token(
            session,
            name="kikaku-ka",
            role=Role.editor,
            expires_at=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
        )
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    response = _write(api.client, _bearer(secret), "期限切れ")

    _assert_challenge(response)
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param("", id="empty"), pytest.param("k" * 101, id="101 characters")]
)
def test_a_name_the_log_cannot_hold_is_refused(
    api: Api, fresh_url: str, tmp_path: Path, name: str
) -> None:
    """The name is who the change log says wrote: it may be neither blank nor overlong."""
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    result = _cli(fresh_url, tmp_path, "tokens", "create", "--name", name, "--role", "editor")

    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--name", "x", "--role", "boss"],
        ["--name", "x"],
        ["--role", "editor"],
        ["--name", "x", "--role", "editor", "--expires", "soon"],
        ["--name", "x", "--role", "editor", "--expires", "2027-13-01"],
        ["--name", "x", "--role", "editor", "--expires="],
        ["--name", "x", "--role", "editor", "--expires", "0d"],
        *[["--name", "x", "--role", "editor", "--expires", past] for past in PAST[:2]],
    ],
)
def test_bad_arguments_are_a_usage_error(
    api: Api, fresh_url: str, tmp_path: Path, args: list[str]
) -> None:
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    result = _cli(fresh_url, tmp_path, "tokens", "create", *args)

    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert result.stdout == ""
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


# --- authentication and roles over HTTP ----------------------------------------------------

# One of each kind of write; a bad token must stop every one of them.
WRITES_NEEDING_A_TOKEN: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", f"{API}/plans", NEW_PLAN),
    ("POST", f"{API}/policies", {"plan_id": 1, "number": 4, "title": "新しい方針"}),
    ("PATCH", f"{API}/initiatives/1", {"title": "変更"}),
    ("PUT", f"{API}/initiatives/10/evaluations/R7", {"status": "achieved"}),
    ("DELETE", f"{API}/policies/1?cascade=true", None),
    ("DELETE", f"{API}/plans/1?cascade=true", None),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no header"),
        pytest.param("", id="empty header"),
        pytest.param("Bearer", id="Bearer alone"),
        pytest.param("Bearer    ", id="Bearer and spaces"),
        pytest.param("Basic a2lrYWt1OmthOg==", id="Basic"),
        pytest.param("{editor}", id="no scheme"),
        pytest.param("Bearer ppa_notatoken", id="unknown token"),
        pytest.param("Bearer {editor}x", id="editor token plus a letter"),
        pytest.param("Token {editor}", id="editor token, wrong scheme"),
        pytest.param("Bearer {digest}", id="the digest instead of the token"),
    ],
)
def test_a_write_without_a_valid_token_is_401_and_writes_nothing(
    api: Api, authorization: str | None
) -> None:
    editor = api.editor["Authorization"].split()[1]
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(
            editor=editor, digest=hashlib.sha256(editor.encode()).hexdigest()
        )
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    for method, path, body in WRITES_NEEDING_A_TOKEN:
        response = api.client.request(method, path, json=body, headers=headers)
        _assert_challenge(response)

    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    editor = api.editor["Authorization"].split()[1]
    response = _write(api.client, {"Authorization": f"{scheme} {editor}"}, "大文字小文字")
    assert response.status_code == 200, response.text
    assert _philosophy(api.engine) == "大文字小文字"


@pytest.mark.parametrize("token", ["editor", "admin"])
def test_editors_and_admins_write_content(api: Api, token: str) -> None:
    headers = _headers(api, token)
    created = api.client.post(
        f"{API}/policies", json={"plan_id": 1, "number": 4, "title": "新しい方針"}, headers=headers
    )
    assert created.status_code == 201, created.text
    policy_id = created.json()["id"]
    updated = api.client.patch(
        f"{API}/policies/{policy_id}", json={"focus": "焦点"}, headers=headers
    )
    assert updated.status_code == 200, updated.text
    deleted = api.client.delete(f"{API}/policies/{policy_id}", headers=headers)
    assert deleted.status_code == 204, deleted.text

    assert _row(api.engine, "policy", policy_id) is None
    entries = feed(api.client, SEED_TOTAL)
    assert [(e["actor"], e["action"], e["entity_id"]) for e in entries] == [
        (token, action, policy_id) for action in ("create", "update", "delete")
    ]


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/plans/1",
        f"{API}/plans/1?cascade=true",
        f"{API}/plans/999",  # the role is checked before the state (404)
        f"{API}/plans/0",  # and before validation (422)
        f"{API}/plans/1?cascade=perhaps",
    ],
)
def test_an_editor_may_not_delete_a_plan(api: Api, path: str) -> None:
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    response = api.client.delete(path, headers=api.editor)

    _problem(response, 403)
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before
    assert _row(api.engine, "plan", 1) is not None


def test_an_admin_deletes_a_plan_with_cascade(api: Api) -> None:
    refused = api.client.delete(f"{API}/plans/1", headers=api.admin)
    _problem(refused, 409)
    assert _ids(api.engine) != set()

    response = api.client.delete(f"{API}/plans/1?cascade=true", headers=api.admin)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert _ids(api.engine) == set()
    assert api.client.get(f"{API}/plans/1").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ppa_notatoken", "Basic a2lrYWt1OmthOg==", "Bearer", "Bearer {editor}"],
)
def test_reads_need_no_token_and_ignore_a_bad_one(api: Api, authorization: str | None) -> None:
    headers = {}
    if authorization is not None:
        editor = api.editor["Authorization"].split()[1]
        headers["Authorization"] = authorization.format(editor=editor)
    for path, key in [
        (f"{API}/plans", "items"),
        (f"{API}/plans/1", "slug"),
        (f"{API}/initiatives?fiscal_year=R6", "items"),
        (f"{API}/changes", "items"),
    ]:
        response = api.client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.json()[key]
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("token", ["none", "bogus", "editor"])
def test_an_oversized_body_is_413_before_authentication(api: Api, token: str) -> None:
    body = json.dumps(NEW_PLAN | {"philosophy": "あ" * 400_000}).encode()  # 1.2 MB of UTF-8
    assert len(body) > 1024 * 1024
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    response = api.client.post(
        f"{API}/plans",
        content=body,
        headers=_headers(api, token) | {"Content-Type": "application/json"},
    )

    _problem(response, 413)
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.parametrize(
    ("token", "status"), [("none", 401), ("bogus", 401), ("editor", 422), ("admin", 422)]
)
def test_malformed_json_is_401_without_a_token_and_422_with_one(
    api: Api, token: str, status: int
) -> None:
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    for content in (b'{"slug": ', b"\xff\xfe", b"[1, 2"):
        response = api.client.post(
            f"{API}/plans",
            content=content,
            headers=_headers(api, token) | {"Content-Type": "application/json"},
        )
        body = _problem(response, status)
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        else:
            assert body["errors"]

    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.slow
def test_no_answer_and_no_stored_row_holds_a_token_secret(api: Api) -> None:
    """Whatever a token's holder does, right or wrong, no answer (status line, headers or
    body) carries a secret back, and no row of any table stores one: not the tokens in use,
    nor one sent with a typo (refused, and not echoed)."""
    secrets = [header["Authorization"].split()[1] for header in (api.editor, api.admin)]
    typo = secrets[0][:-1] + ("A" if secrets[0][-1] != "A" else "B")
    csv = "取組番号,年度,評価\r\nR7-1,R7,達成\r\n".encode()
    bulk = {"Content-Type": "text/csv", "Idempotency-Key": "r7-evaluations-1"}
    too_large = {"content": b"{" + b" " * (1024 * 1024) + b"}"}
    requests: list[tuple[str, str, dict[str, Any], dict[str, str], int]] = [
        ("POST", f"{API}/plans", {"json": NEW_PLAN}, api.admin, 201),
        ("PATCH", f"{API}/plans/1", {"json": {"philosophy": "鍵を返さない"}}, api.editor, 200),
        (
            "PUT",
            f"{API}/initiatives/10/evaluations/R7",
            {"json": {"status": "achieved"}},
            api.editor,
            201,
        ),
        (
            "POST",
            f"{API}/bulk/evaluations?plan_id=1",
            {"content": csv, "headers": bulk},
            api.editor,
            200,
        ),
        (
            "POST",
            f"{API}/bulk/evaluations?plan_id=1",
            {"content": csv, "headers": bulk},
            api.editor,
            200,
        ),
        ("DELETE", f"{API}/policies/1", {}, api.editor, 409),
        ("DELETE", f"{API}/plans/1?cascade=true", {}, api.editor, 403),
        (
            "PATCH",
            f"{API}/plans/1",
            {"json": {"title": "古い"}, "headers": {"If-Match": '"99"'}},
            api.editor,
            412,
        ),
        ("PATCH", f"{API}/plans/999", {"json": {"title": "なし"}}, api.editor, 404),
        ("PATCH", f"{API}/plans/1", too_large, api.editor, 413),
        ("POST", f"{API}/plans", {"json": NEW_PLAN | {"colour": "red"}}, api.editor, 422),
        ("PATCH", f"{API}/plans/1", {"json": {"title": "誤り"}}, _bearer(typo), 401),
        ("GET", f"{API}/initiatives/1", {}, api.editor, 200),
        ("GET", f"{API}/changes?since=0&limit=500", {}, api.admin, 200),
        ("GET", f"{API}/export/plans.json", {}, api.admin, 200),
    ]
    for method, path, options, headers, status in requests:
        extra = options.pop("headers", {})
        response = api.client.request(method, path, headers=headers | extra, **options)
        assert response.status_code == status, (method, path, response.text)
        sent_back = [response.text, response.reason_phrase, *response.headers.values()]
        for secret in (*secrets, typo):
            assert not any(secret in part for part in sent_back), (method, path, status)

    metadata = MetaData()
    metadata.reflect(api.engine)
    stored: list[str] = []
    with api.engine.connect() as connection:
        for table in metadata.tables.values():
            for row in connection.execute(select(table)):
                stored += [
                    value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    for value in row
                ]
    assert any("r7-evaluations-1" in value for value in stored)  # the dump is the whole store
    assert any("鍵を返さない" in value for value in stored)
    for secret in (*secrets, typo):
        assert not any(secret in value for value in stored)
        assert not any(secret.removeprefix("ppa_") in value for value in stored)


# --- the change feed -----------------------------------------------------------------------


def _assert_rfc3339_utc(value: str) -> datetime:
    assert RFC3339_UTC.fullmatch(value), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0)
    return moment


@pytest.mark.slow
def test_the_seeded_feed_holds_the_seeds_creates_in_order(
    client: TestClient, engine: Engine
) -> None:
    response = client.get(f"{API}/changes", params={"since": 0, "limit": 500})

    assert response.status_code == 200
    body = response.json()
    items = body["items"]
    assert len(items) == SEED_TOTAL
    ids = [item["id"] for item in items]
    assert ids == sorted(set(ids))
    assert body["next"] == ids[-1]
    assert {item["actor"] for item in items} == {"seed"}
    assert {item["action"] for item in items} == {"create"}
    assert {
        entity: sum(item["entity"] == entity for item in items) for entity in SEED_COUNTS
    } == SEED_COUNTS
    # One create per row of the seeded database, naming it, with its values as [null, value].
    assert {(item["entity"], item["entity_id"]) for item in items} == _ids(engine)
    for item in items:
        assert set(item) == {"id", "at", "actor", "action", "entity", "entity_id", "changes"}
        _assert_rfc3339_utc(item["at"])
        row = _row(engine, item["entity"], item["entity_id"])
        assert row is not None
        assert item["changes"] == {
            column: [None, _jsonable(value)]
            for column, value in row.items()
            if column not in BOOKKEEPING
        }
    assert items[0]["changes"]["slug"] == [None, "kanazawa-2023-2026"]


def test_nothing_after_next_and_next_stays(client: TestClient) -> None:
    last = client.get(f"{API}/changes", params={"since": 0, "limit": 500}).json()["next"]
    for since in (last, last + 1000):
        response = client.get(f"{API}/changes", params={"since": since})
        assert response.status_code == 200
        assert response.json() == {"items": [], "next": since}


@pytest.mark.slow
@pytest.mark.parametrize("limit", [1, 7, 61, 62, 100])
def test_pages_chain_through_every_change_exactly_once(client: TestClient, limit: int) -> None:
    everything = feed(client)
    seen: list[dict[str, Any]] = []
    since = 0
    for _ in range(SEED_TOTAL + 2):
        response = client.get(f"{API}/changes", params={"since": since, "limit": limit})
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= limit
        if not page["items"]:
            assert page["next"] == since
            break
        assert page["next"] == page["items"][-1]["id"]
        seen.extend(page["items"])
        since = page["next"]
    assert seen == everything
    assert len(seen) == SEED_TOTAL


def test_the_feed_starts_at_since_exclusive(client: TestClient) -> None:
    everything = feed(client)
    middle = everything[30]["id"]
    assert feed(client, middle) == everything[31:]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 501},
        {"limit": 0},
        {"limit": -1},
        {"since": -1},
        {"since": "abc"},
        {"limit": "ten"},
        {"since": 2**63},
    ],
)
def test_bad_feed_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    body = _problem(client.get(f"{API}/changes", params=params), 422)
    assert body["errors"]
    assert body["errors"][0]["loc"][:2] == ["query", next(iter(params))]


ENTRY_WRITES = [
    pytest.param(
        "POST",
        f"{API}/policies",
        {"plan_id": 1, "number": 4, "title": "新しい基本方針", "focus": "テスト"},
        "policy",
        None,
        "create",
        set(),
        id="create policy",
    ),
    pytest.param(
        "POST",
        f"{API}/initiatives",
        {
            "measure_id": 2,
            "code": "Ｒ７－９９",
            "title": "新しい取組",
            "numeric_target": True,
            "target_value": 5,
            "target_unit": "件",
        },
        "initiative",
        None,
        "create",
        set(),
        id="create initiative",
    ),
    pytest.param(
        "PUT",
        f"{API}/initiatives/10/evaluations/R7",
        {"status": "achieved", "result": "避難所受付でデジタル市民パスポートの運用を開始"},
        "evaluation",
        None,
        "create",
        set(),
        id="create evaluation",
    ),
    pytest.param(
        "PATCH",
        f"{API}/plans/1",
        {"philosophy": "変更した理念", "title": "金沢市行政経営プラン", "end_fiscal_year": "R9"},
        "plan",
        1,
        "update",
        set(),
        id="update plan",
    ),
    pytest.param(
        "PATCH",
        f"{API}/initiatives/1",
        {"title": "公用車給油事務の見直し", "description": "説明を追加"},
        "initiative",
        1,
        "update",
        {"search_text"},
        id="update initiative (search text changes too)",
    ),
    pytest.param(
        "PATCH",
        f"{API}/initiatives/1",
        {"code": "R6-100"},
        "initiative",
        1,
        "update",
        {"code_sort", "search_text"},
        id="update code (sort key changes too)",
    ),
    pytest.param(
        "PUT",
        f"{API}/initiatives/1/evaluations/R6",
        {"status": "not_achieved", "result": "書き換えた実績"},
        "evaluation",
        1,
        "update",
        {"search_text"},
        id="replace evaluation",
    ),
    pytest.param(
        "PATCH",
        f"{API}/reports/1",
        {"published_on": "2025-08-01"},
        "report",
        1,
        "update",
        set(),
        id="update report",
    ),
    pytest.param(
        "DELETE",
        f"{API}/initiatives/1/evaluations/R6",
        None,
        "evaluation",
        1,
        "delete",
        set(),
        id="delete evaluation",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "body", "entity", "row_id", "action", "derived"), ENTRY_WRITES
)
def test_a_write_adds_one_entry_with_the_fields_it_changed(
    api: Api,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    entity: str,
    row_id: int | None,
    action: str,
    derived: set[str],
) -> None:
    old = _row(api.engine, entity, row_id) if row_id is not None else None
    started = datetime.now(UTC)

    response = api.client.request(method, path, json=body, headers=api.editor)

    finished = datetime.now(UTC)
    assert response.status_code == {"create": 201, "update": 200, "delete": 204}[action], (
        response.text
    )
    row_id = row_id if row_id is not None else response.json()["id"]
    assert row_id is not None
    new = _row(api.engine, entity, row_id)
    (entry,) = feed(api.client, SEED_TOTAL)
    assert entry["id"] > SEED_TOTAL
    assert (entry["actor"], entry["action"], entry["entity"], entry["entity_id"]) == (
        "editor",
        action,
        entity,
        row_id,
    )
    at = _assert_rfc3339_utc(entry["at"])
    assert started - timedelta(seconds=1) <= at <= finished + timedelta(seconds=1)
    # {field: [old, new]} for exactly the fields that changed in the database.
    before = old or {}
    after = new or {}
    columns = [column.name for column in TABLES[entity].c if column.name not in BOOKKEEPING]
    expected = {
        column: [_jsonable(before.get(column)), _jsonable(after.get(column))]
        for column in columns
        if old is None or new is None or old[column] != new[column]
    }
    assert expected
    assert entry["changes"] == expected
    if old is not None and new is not None:
        # The database moved its bookkeeping and derived columns too; the entry leaves them out.
        moved = {c for c in BOOKKEEPING if c in old and old[c] != new[c]}
        assert moved == {"version", "updated_at"} | derived
        assert new["version"] == old["version"] + 1
        assert not BOOKKEEPING & set(entry["changes"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{API}/plans/1", {"title": "金沢市行政経営プラン", "start_fiscal_year": "令和5年度"}),
        (f"{API}/plans/1", {}),
        (f"{API}/initiatives/1", {"code": "Ｒ６－７"}),  # the same code after NFKC
        (f"{API}/initiatives/1", {"title": "公用車給油事務へのクレジットカードの導入"}),
        (f"{API}/policies/1", {"number": 1}),
    ],
)
def test_a_patch_that_changes_nothing_adds_no_entry(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    before = snapshot(api.engine, SNAPSHOT_TABLES)
    version = api.client.get(path).json()["version"]

    response = api.client.patch(path, json=body, headers=api.editor)

    assert response.status_code == 200, response.text
    assert response.json()["version"] == version
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before
    assert feed(api.client, SEED_TOTAL) == []


def test_replacing_an_evaluation_with_itself_adds_no_entry(api: Api) -> None:
    path = f"{API}/initiatives/1/evaluations/R6"
    current = api.client.get(path).json()
    before = snapshot(api.engine, SNAPSHOT_TABLES)

    response = api.client.put(
        path,
        json={
            key: current[key]
            for key in ("status", "actual_value", "result", "source", "provenance")
        },
        headers=api.editor,
    )

    assert response.status_code == 200, response.text
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before
    assert feed(api.client, SEED_TOTAL) == []


FAILED_WRITES = [
    pytest.param("POST", f"{API}/plans", NEW_PLAN | {"colour": "red"}, {}, "editor", 422),
    pytest.param("POST", f"{API}/plans", NEW_PLAN | {"end_fiscal_year": "R4"}, {}, "editor", 422),
    pytest.param("PATCH", f"{API}/initiatives/1", {"fiscal_year": 2030}, {}, "editor", 422),
    pytest.param(
        "POST", f"{API}/policies", {"plan_id": 99, "number": 4, "title": "x"}, {}, "editor", 422
    ),
    pytest.param(
        "PUT", f"{API}/initiatives/1/evaluations/2030", {"status": "achieved"}, {}, "editor", 422
    ),
    pytest.param(
        "POST", f"{API}/plans", NEW_PLAN | {"slug": "kanazawa-2023-2026"}, {}, "editor", 409
    ),
    pytest.param(
        "POST", f"{API}/policies", {"plan_id": 1, "number": 1, "title": "x"}, {}, "editor", 409
    ),
    pytest.param("PATCH", f"{API}/initiatives/2", {"code": "R6-7"}, {}, "editor", 409),
    pytest.param("DELETE", f"{API}/policies/1", None, {}, "editor", 409),
    pytest.param(
        "PATCH", f"{API}/plans/1", {"title": "古い版"}, {"If-Match": '"99"'}, "editor", 412
    ),
    pytest.param(
        "DELETE", f"{API}/policies/1?cascade=true", None, {"If-Match": '"2"'}, "editor", 412
    ),
    pytest.param(
        "PUT",
        f"{API}/initiatives/1/evaluations/R6",
        {"status": "not_achieved"},
        {"If-Match": 'W/"1"'},
        "editor",
        412,
    ),
    pytest.param("POST", f"{API}/plans", NEW_PLAN, {}, "none", 401),
    pytest.param("PATCH", f"{API}/plans/1", {"title": "無断"}, {}, "bogus", 401),
    pytest.param("DELETE", f"{API}/plans/1?cascade=true", None, {}, "editor", 403),
    pytest.param("PATCH", f"{API}/plans/999", {"title": "なし"}, {}, "editor", 404),
    pytest.param("DELETE", f"{API}/initiatives/10/evaluations/R6", None, {}, "editor", 404),
]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "body", "extra", "token", "status"), FAILED_WRITES)
def test_a_failed_write_adds_no_entry_and_changes_nothing(
    api: Api,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    extra: dict[str, str],
    token: str,
    status: int,
) -> None:
    before = snapshot(api.engine, SNAPSHOT_TABLES)
    count = _change_count(api.engine)

    response = api.client.request(method, path, json=body, headers=_headers(api, token) | extra)

    _problem(response, status)
    assert _change_count(api.engine) == count
    assert feed(api.client, SEED_TOTAL) == []
    assert snapshot(api.engine, SNAPSHOT_TABLES) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "token", "entity", "row_id"),
    [
        (f"{API}/policies/1", "editor", "policy", 1),
        (f"{API}/measures/1", "editor", "measure", 1),
        (f"{API}/initiatives/1", "editor", "initiative", 1),
        (f"{API}/reports/1", "editor", "report", 1),
        (f"{API}/plans/1", "admin", "plan", 1),
    ],
)
def test_a_cascade_delete_logs_every_row_that_went_with_it(
    api: Api, path: str, token: str, entity: str, row_id: int
) -> None:
    parent = _row(api.engine, entity, row_id)
    assert parent is not None
    before = _ids(api.engine)

    # A report's lines and highlights are parts of it: its DELETE takes no ?cascade.
    query = "" if entity == "report" else "?cascade=true"
    response = api.client.delete(f"{path}{query}", headers=_headers(api, token))

    assert response.status_code == 204, response.text
    gone = before - _ids(api.engine)
    assert (entity, row_id) in gone
    assert len(gone) > 1  # it had children (or parts) that went with it
    entries = feed(api.client, SEED_TOTAL)
    logged = [(entry["entity"], entry["entity_id"]) for entry in entries]
    assert sorted(logged) == sorted(gone)  # every row that went, exactly once, nothing else
    assert {(entry["actor"], entry["action"]) for entry in entries} == {(token, "delete")}
    for entry in entries:
        _assert_rfc3339_utc(entry["at"])
    (own,) = [e for e in entries if (e["entity"], e["entity_id"]) == (entity, row_id)]
    assert own["changes"] == {
        column: [_jsonable(value), None]
        for column, value in parent.items()
        if column not in BOOKKEEPING
    }


# --- the development admin token of `serve` ------------------------------------------------


@contextmanager
def _serving(cwd: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run `python -m app serve` in cwd until the block ends; its output goes to log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env | {"PORT": str(port)},
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        ) as server,
    ):
        try:
            wait_until_ready(server, base, log, 60)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def _tokens_in(path: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(api_tokens.c.name, api_tokens.c.role))
            return [(str(name), str(role)) for name, role in rows]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_serve_on_the_default_database_prints_a_development_admin_token_once(
    tmp_path: Path,
) -> None:
    """The README's first command, then its first write with the token it printed."""
    first_log = tmp_path / "first.log"
    with _serving(tmp_path, child_env(), first_log) as base:
        output = first_log.read_text()
        announced = [line for line in output.splitlines() if "development admin token" in line]
        assert announced, output
        match = re.search(r"export TOKEN=(\S+)", output)
        assert match, output
        headers = _bearer(match[1])
        evaluation = httpx.put(
            f"{base}{API}/initiatives/10/evaluations/R7",
            json={"status": "achieved", "result": "避難所受付でデジタル市民パスポートの運用を開始"},
            headers=headers,
        )
        plan = httpx.post(f"{base}{API}/plans", json=NEW_PLAN, headers=headers)
        feed = httpx.get(f"{base}{API}/changes", params={"since": SEED_TOTAL}).json()
    assert evaluation.status_code == 201, evaluation.text
    assert plan.status_code == 201, plan.text
    assert plan.headers["location"].endswith(f"{API}/plans/{plan.json()['id']}")
    assert [(item["entity"], item["action"]) for item in feed["items"]] == [
        ("evaluation", "create"),
        ("plan", "create"),
    ]
    database = tmp_path / "plan_progress.db"
    assert [role for _, role in _tokens_in(database)] == ["admin"]

    # A second start on the same (now seeded) database makes and prints no other token.
    second_log = tmp_path / "second.log"
    with _serving(tmp_path, child_env(), second_log):
        pass
    again = second_log.read_text()
    assert "development admin token" not in again
    assert "TOKEN=" not in again
    assert len(_tokens_in(database)) == 1


@pytest.mark.slow
def test_serve_with_database_url_set_prints_no_token(tmp_path: Path) -> None:
    database = tmp_path / "configured.db"
    log = tmp_path / "serve.log"
    with _serving(tmp_path, child_env(DATABASE_URL=f"sqlite:///{database}"), log) as base:
        refused = httpx.post(f"{base}{API}/plans", json=NEW_PLAN)
    output = log.read_text()
    assert "62 rows added" in output  # it created and seeded the database, as on the default
    assert "development admin token" not in output.lower()
    assert "TOKEN=" not in output
    assert _tokens_in(database) == []
    assert not (tmp_path / "plan_progress.db").exists()
    assert refused.status_code == 401
