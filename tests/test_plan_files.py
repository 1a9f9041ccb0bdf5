"""Any city's plan from a file: `python -m app seed --file`, `serve --no-seed` and SEED_FILE,
and a bad file's problems, each at its key path and line, with nothing written.

Expected values come from the example town's file (seed/example-town-2025-2028.toml), read
here with tomllib, never from a response.
"""

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from tests.conftest import wait_until_ready
from tests.helpers import API, ROOT, child_env, free_port, run_app, snapshot

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "seed" / "example-town-2025-2028.toml"
TOWN: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
ROWS = (
    1
    + len(TOWN["policies"])
    + sum(len(policy["measures"]) for policy in TOWN["policies"])
    + len(TOWN["initiatives"])
    + sum(len(item.get("evaluations", [])) for item in TOWN["initiatives"])
    + len(TOWN["reports"])
    + sum(len(report["lines"]) + len(report["highlights"]) for report in TOWN["reports"])
)


def _app(*args: str, url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_app(*args, env=child_env(DATABASE_URL=url, **env), cwd=cwd)


def _migrated(url: str, cwd: Path) -> None:
    done = _app("migrate", url=url, cwd=cwd)
    assert done.returncode == 0, done.stderr


def test_the_example_town_loads_from_its_file_and_reads_back(
    scratch_url: str, tmp_path: Path, make_client: Any
) -> None:
    _migrated(scratch_url, tmp_path)
    first = _app("seed", "--file", str(EXAMPLE), url=scratch_url, cwd=tmp_path)
    second = _app("seed", "--file", str(EXAMPLE), url=scratch_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"seed {EXAMPLE.name}: {ROWS} rows added, 0 already present"
    assert second.stdout.strip() == f"seed {EXAMPLE.name}: 0 rows added, {ROWS} already present"

    client: TestClient = make_client(scratch_url)
    plans = client.get(f"{API}/plans").json()["items"]
    assert [plan["slug"] for plan in plans] == [TOWN["plan"]["slug"]]  # no Kanazawa
    plan = plans[0]
    assert plan["municipality_name"] == "見本町"
    assert (plan["start_fiscal_year"], plan["end_fiscal_year"]) == (2025, 2028)  # 令和7年度, 2028
    initiatives = client.get(f"{API}/initiatives", params={"plan_id": plan["id"]}).json()
    years = {item["code"]: item["fiscal_year"] for item in initiatives["items"]}
    # R7-… names 令和7年度; a code naming no year carries its own.
    assert years == {"R7-1": 2025, "R7-2": 2025, "KOUKYOU-1": 2026}
    evaluations = client.get(f"{API}/evaluations", params={"plan_id": plan["id"]}).json()
    written = {
        (item["code"], evaluation["fiscal_year"]): evaluation["status"]
        for item in TOWN["initiatives"]
        for evaluation in item["evaluations"]
    }
    assert {
        (row["code"], row["fiscal_year"]): row["status"] for row in evaluations["items"]
    } == written
    reports = client.get(f"{API}/reports", params={"plan_id": plan["id"]}).json()["items"]
    assert [report["fiscal_year"] for report in reports] == [2025, 2026]
    assert reports[0]["published_on"] == "2026-06-30"
    assert [
        (line["items"], line["achieved"], line["unconfirmed"]) for line in reports[1]["lines"]
    ] == [
        (line["items"], line["achieved"], line.get("unconfirmed", 0))
        for line in TOWN["reports"][1]["lines"]
    ]
    highlights = {(h["code"], h["section"]) for h in reports[1]["highlights"]}
    assert highlights == {("R7-1", "implemented"), ("KOUKYOU-1", "added")}


def _line_of(text: str, needle: str) -> int:
    (number,) = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip() == needle]
    return number


def _broken(tmp_path: Path, *edits: tuple[str, str]) -> tuple[Path, str]:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "town.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_a_bad_file_names_every_problem_at_its_key_path_and_line_and_writes_nothing(
    fresh_url: str, tmp_path: Path
) -> None:
    engine = create_engine(fresh_url)
    before = snapshot(engine)
    # A value the schema refuses, in the second item of an array of tables.
    typed, typed_text = _broken(
        tmp_path,
        ('result = "呼出番号をスマートフォンに通知する仕組みを導入しました。"', "result = 42"),
        ("plan_page = 12", 'plan_page = "twelve"'),
    )
    typed_run = _app("seed", "--file", str(typed), url=fresh_url, cwd=tmp_path)
    # Each item valid alone, but naming what the file lacks, or outside the period.
    crossed, crossed_text = _broken(
        tmp_path,
        ('policy = 2\nmeasure = 1\ntitle = "公民館', 'policy = 2\nmeasure = 7\ntitle = "公民館'),
        ('  code = "R7-2"\n  section', '  code = "R7-9"\n  section'),
        ('fiscal_year = 2026\n  status = "achieved"', 'fiscal_year = 2029\n  status = "achieved"'),
    )
    crossed_run = _app("seed", "--file", str(crossed), url=fresh_url, cwd=tmp_path)
    not_toml = tmp_path / "broken.toml"
    not_toml.write_text('[plan]\nslug = "x"\ntitle = \n', encoding="utf-8")
    syntax_run = _app("seed", "--file", str(not_toml), url=fresh_url, cwd=tmp_path)
    after = snapshot(engine)
    engine.dispose()

    page_line = _line_of(typed_text, 'plan_page = "twelve"')
    code_line = _line_of(crossed_text, 'code = "R7-9"')
    assert typed_run.returncode == 1
    assert typed_run.stdout == ""
    assert typed_run.stderr.splitlines() == [
        f"error: {typed}: 2 problems, nothing was loaded",
        f"  {typed}:{page_line}: initiatives[0].plan_page: Input should be a valid integer",
        f"  {typed}:{_line_of(typed_text, 'result = 42')}:"
        " initiatives[1].evaluations[0].result: Input should be a valid string",
    ]
    assert crossed_run.returncode == 1
    assert crossed_run.stderr.splitlines() == [
        f"error: {crossed}: 3 problems, nothing was loaded",
        f"  {crossed}:{_line_of(crossed_text, 'fiscal_year = 2029')}:"
        " initiatives[0].evaluations[1].fiscal_year: 令和11年度 is outside the plan's period"
        " 令和7年度～令和10年度",
        f"  {crossed}:{_line_of(crossed_text, 'measure = 7')}:"
        " initiatives[2].measure: policy 2 has no measure 7 in this file",
        f"  {crossed}:{code_line}: reports[0].highlights[0].code: no initiative R7-9 in this file",
    ]
    assert syntax_run.returncode == 1
    assert syntax_run.stderr.splitlines() == [
        f"error: {not_toml}: 1 problem, nothing was loaded",
        f"  {not_toml}:3: Invalid value (not TOML)",
    ]
    assert after == before


def _serve(url: str, tmp_path: Path, *args: str, **env: str) -> list[str]:
    """Start `serve` on a new database, list the plans' slugs, stop it."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "app", "serve", *args],
            env=child_env(DATABASE_URL=url, PORT=str(port), **env),
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(server, base, log, 60)
            plans = httpx.get(f"{base}{API}/plans", timeout=10).json()["items"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return [plan["slug"] for plan in plans]


def test_serve_loads_the_plan_file_it_is_given_or_none(scratch_url: str, tmp_path: Path) -> None:
    assert _serve(scratch_url, tmp_path, "--no-seed") == []
    # Not empty any more? Still empty: --no-seed loaded nothing, so SEED_FILE applies now.
    assert _serve(scratch_url, tmp_path, SEED_FILE=str(EXAMPLE)) == [TOWN["plan"]["slug"]]


def test_seed_file_none_serves_an_empty_database(scratch_url: str, tmp_path: Path) -> None:
    assert _serve(scratch_url, tmp_path, SEED_FILE="none") == []
