"""A plan moves whole: the bundle /export/plans/{id}.zip gives loads into another instance
(POST /api/v1/plans/import, `python -m app import`), all or nothing.

The source is always SQLite (Kanazawa's plan and the example town, seeded from their files,
with a year of evaluations added); the target is the suite's database, so on the PostgreSQL
run this is the move from SQLite to PostgreSQL. Expected values come from the source's own
answers (the point is that the target answers the same), never from the target's.
"""

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import Session

from app import migrate
from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.seed import EXAMPLE_TOWN, KANAZAWA, seed
from tests.helpers import API, assert_problem, child_env, run_app, snapshot

pytestmark = pytest.mark.slow
ZIP = {"Content-Type": "application/zip"}
STATS = ("achievement", "trend", "summary", "targets")


def _with_tokens(url: str) -> tuple[dict[str, str], dict[str, str]]:
    engine = create_engine(url)
    with Session(engine) as session:
        admin = create_token(session, name="mover", role=Role.admin)
        editor = create_token(session, name="editor", role=Role.editor)
    engine.dispose()
    return {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {editor}"}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[TestClient]:
    """A SQLite instance with two plans, one of them with a second year of evaluations."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        seed(session, KANAZAWA)
        seed(session, EXAMPLE_TOWN)
    engine.dispose()
    admin, _ = _with_tokens(url)
    application = create_app(Settings(database_url=url))
    with TestClient(application) as client:
        put = client.put(
            f"{API}/initiatives/1/evaluations/R7",
            headers=admin,
            json={"status": "not_achieved", "actual_value": 3.5, "result": "翌年度に継続"},
        )
        assert put.status_code in (200, 201), put.text
        yield client
    application.state.engine.dispose()


@pytest.fixture
def target(scratch_url: str) -> Iterator[tuple[TestClient, str, dict[str, str], dict[str, str]]]:
    migrate.upgrade(scratch_url)
    admin, editor = _with_tokens(scratch_url)
    application = create_app(Settings(database_url=scratch_url))
    with TestClient(application) as client:
        yield client, scratch_url, admin, editor
    application.state.engine.dispose()


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _without_ids(value: Any) -> Any:
    """An answer with the database's ids left out: they are the instance's own."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id" and not k.endswith("_id")}
    if isinstance(value, list):
        return [_without_ids(item) for item in value]
    return value


def _answers(client: TestClient, plan_id: int) -> dict[str, Any]:
    years = [2023, 2024, 2025, 2026, 2027, 2028]
    found: dict[str, Any] = {}
    for name in STATS:
        for year in years if name == "achievement" else [None]:
            params: dict[str, Any] = {"plan_id": plan_id}
            if year is not None:
                params["fiscal_year"] = year
            response = client.get(f"{API}/stats/{name}", params=params)
            found[f"{name} {year}"] = (response.status_code, _without_ids(response.json()))
    return found


def test_every_plan_moves_whole_and_exports_and_answers_the_same(
    source: TestClient, target: tuple[TestClient, str, dict[str, str], dict[str, str]]
) -> None:
    client, _, admin, _ = target
    plans = source.get(f"{API}/plans").json()["items"]
    assert len(plans) == 2
    for plan in plans:
        bundle = source.get(f"{API}/export/plans/{plan['id']}.zip").content
        imported = client.post(f"{API}/plans/import", content=bundle, headers=admin | ZIP)
        assert imported.status_code == 201, imported.text
        moved = imported.json()
        assert imported.headers["location"].endswith(f"{API}/plans/{moved['id']}")
        assert _without_ids(moved) == {
            k: v
            for k, v in _without_ids(plan).items()
            if k not in ("version", "created_at", "updated_at")
        } | {k: moved[k] for k in ("version", "created_at", "updated_at")}
        again = client.get(f"{API}/export/plans/{moved['id']}.zip").content
        original, copied = _members(bundle), _members(again)
        assert sorted(copied) == sorted(original)
        for name, content in original.items():
            assert copied[name] == content, name  # every CSV, the descriptor, README, LICENSE
        answers = _answers(source, plan["id"])
        assert sum(status == 200 for status, _ in answers.values()) >= 6  # 4 years, 3 kinds
        assert _answers(client, moved["id"]) == answers


def test_a_taken_slug_is_refused_unless_replaced_and_a_bad_bundle_changes_nothing(
    source: TestClient, target: tuple[TestClient, str, dict[str, str], dict[str, str]]
) -> None:
    client, url, admin, editor = target
    bundle = source.get(f"{API}/export/plans/1.zip").content
    first = client.post(f"{API}/plans/import", content=bundle, headers=admin | ZIP)
    assert first.status_code == 201
    engine = create_engine(url)
    before = snapshot(engine)
    taken = client.post(f"{API}/plans/import", content=bundle, headers=admin | ZIP)
    assert "kanazawa-2023-2026" in assert_problem(taken, 409)["detail"]
    assert_problem(client.post(f"{API}/plans/import", content=bundle, headers=editor | ZIP), 403)
    assert_problem(
        client.post(
            f"{API}/plans/import", content=bundle, headers=admin | {"Content-Type": "text/csv"}
        ),
        415,
    )
    not_zip = client.post(f"{API}/plans/import", content=b"PK but not a zip", headers=admin | ZIP)
    assert "zip" in assert_problem(not_zip, 422)["detail"]
    members = _members(bundle)
    rows = members["evaluations.csv"].decode("utf-8-sig").split("\r\n")
    rows[2] = rows[2].replace(",達成,", ",たぶん達成,")
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        for name, content in members.items():
            archive.writestr(
                name, "\ufeff" + "\r\n".join(rows) if name == "evaluations.csv" else content
            )
    bad = client.post(
        f"{API}/plans/import?replace=true", content=broken.getvalue(), headers=admin | ZIP
    )
    problem = assert_problem(bad, 422)
    assert [error["msg"].split(": ")[:2] for error in problem["errors"]] == [
        ["bundle:evaluations.csv:3", "initiatives[1].evaluations[0].status"]
    ]
    assert snapshot(engine) == before
    replaced = client.post(f"{API}/plans/import?replace=true", content=bundle, headers=admin | ZIP)
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["id"] != first.json()["id"]
    assert [plan["slug"] for plan in client.get(f"{API}/plans").json()["items"]] == [
        "kanazawa-2023-2026"
    ]
    engine.dispose()


def test_the_command_line_imports_a_bundle_file(
    source: TestClient,
    target: tuple[TestClient, str, dict[str, str], dict[str, str]],
    tmp_path: Path,
) -> None:
    client, url, _, _ = target
    path = tmp_path / "kanazawa.zip"
    path.write_bytes(source.get(f"{API}/export/plans/1.zip").content)
    done = run_app("import", str(path), env=child_env(DATABASE_URL=url), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("import kanazawa.zip: plan ")
    again = run_app("import", str(path), env=child_env(DATABASE_URL=url), cwd=tmp_path)
    assert again.returncode == 1
    assert "exists" in again.stderr and "--replace" in again.stderr
    replaced = run_app(
        "import", "--replace", str(path), env=child_env(DATABASE_URL=url), cwd=tmp_path
    )
    assert replaced.returncode == 0, replaced.stderr
    assert len(client.get(f"{API}/plans").json()["items"]) == 1


def test_the_import_path_is_the_import_routes_alone(
    target: tuple[TestClient, str, dict[str, str], dict[str, str]],
) -> None:
    """/plans/import is not a plan whose id is "import": other methods are 405, not 422."""
    client, _, admin, _ = target
    for method in ("GET", "HEAD", "PATCH", "DELETE", "PUT"):
        response = client.request(method, f"{API}/plans/import", headers=admin)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"
    assert client.get(f"{API}/plans/abc").status_code == 422  # a parameter still is one
