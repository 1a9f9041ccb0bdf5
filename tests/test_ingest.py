"""A progress report in the city's format becomes data: `python -m app ingest REPORT --plan`.

The reference is the seed file (seed/kanazawa-2023-2026.toml), transcribed by hand from the
same text: ingesting the text must answer every read as the seed does, `source` aside (the
ingest writes its own). The next year's report is a fixture made here from the R6 text, its
years moved on a year and one figure changed.
"""

import csv
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import Session

from app import migrate
from app.seed import KANAZAWA, seed
from tests.helpers import API, ROOT, child_env, run_app

pytestmark = pytest.mark.slow

REPORT = ROOT / "seed" / "source" / "kanazawa-plan-progress-r6.txt"
R6 = REPORT.read_text(encoding="utf-8")
SLUG = "kanazawa-2023-2026"
STATS = ("achievement", "trend", "summary", "targets")


def _ingest(url: str, cwd: Path, path: Path, *args: str) -> Any:
    return run_app(
        "ingest", str(path), "--plan", SLUG, *args, env=child_env(DATABASE_URL=url), cwd=cwd
    )


def _plan_id(client: TestClient) -> int:
    (plan,) = client.get(f"{API}/plans").json()["items"]
    return int(plan["id"])


def _tables(client: TestClient, plan_id: int) -> dict[str, list[dict[str, str]]]:
    """Every CSV of the plan's bundle, as rows, without the 出典 (source) column."""
    content = client.get(f"{API}/export/plans/{plan_id}.zip").content
    tables = {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.endswith(".csv"):
                text = archive.read(name).decode("utf-8-sig")
                rows = list(csv.DictReader(io.StringIO(text)))
                tables[name] = [{k: v for k, v in row.items() if k != "出典"} for row in rows]
    return tables


def _without(value: Any, *names: str) -> Any:
    if isinstance(value, dict):
        return {
            k: _without(v, *names)
            for k, v in value.items()
            if k not in names and not k.endswith("_id")
        }
    if isinstance(value, list):
        return [_without(item, *names) for item in value]
    return value


def _reads(client: TestClient, plan_id: int) -> dict[str, Any]:
    """What a client reads of the plan: its resources and every statistic, ids aside."""
    volatile = ("id", "source", "created_at", "updated_at")
    found: dict[str, Any] = {}
    for path in ("plans", "policies", "measures", "initiatives", "reports"):
        answer = client.get(f"{API}/{path}", params={"limit": 100})
        found[path] = _without(answer.json(), *volatile)
    for name in STATS:
        for year in (2023, 2024, 2025, 2026) if name == "achievement" else (None,):
            params: dict[str, Any] = {"plan_id": plan_id}
            if year is not None:
                params["fiscal_year"] = year
            answer = client.get(f"{API}/stats/{name}", params=params)
            found[f"{name} {year}"] = (answer.status_code, _without(answer.json(), *volatile))
    return found


def _next_year(text: str, *, achieved_of_policy_1: int = 39) -> str:
    """The R6 report moved on a year: the carried-out items get new R7 codes (R6-7 becomes
    R7-107, so none meets the R7 items the R6 report added), the added ones R8 codes, and
    policy 1 achieves `achieved_of_policy_1` of its 39 items."""
    moved = text.replace("№.R7-", "№.R8-").replace("№.R6-", "№.R7-10")
    moved = moved.replace("令和7年度", "令和8年度").replace("令和6年度", "令和7年度")
    achieved = 38 + 32 + achieved_of_policy_1
    rate = f"{round(achieved * 1000 / 124) / 10:.1f}"  # 109 of 124: 87.9
    one = f"{round(achieved_of_policy_1 * 1000 / 39) / 10:.1f}"
    moved = moved.replace(
        "39 項目\t38 項目\t97.4%", f"39 項目\t{achieved_of_policy_1} 項目\t{one}%"
    )
    moved = moved.replace("124 項目\t108 項目\t87.1%", f"124 項目\t{achieved} 項目\t{rate}%")
    moved = moved.replace(
        "達成率 87.1% (実施計画 124 項目中 108 項目",
        f"達成率 {rate}% (実施計画 124 項目中 {achieved} 項目",
    )
    assert moved.count("令和7年度に実施した") == 1 and f"{achieved} 項目" in moved
    return moved


def test_the_report_ingests_to_the_answers_the_seed_gives_and_again_changes_nothing(
    scratch_url: str, tmp_path: Path, make_client: Callable[[str], TestClient]
) -> None:
    seeded = f"sqlite:///{tmp_path / 'seeded.db'}"
    migrate.upgrade(seeded)
    engine = create_engine(seeded)
    with Session(engine) as session:
        seed(session, KANAZAWA)
    engine.dispose()
    migrate.upgrade(scratch_url)

    dry = _ingest(scratch_url, tmp_path, REPORT, "--municipality-code", "172014", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "62 rows would add, 0 changed" in dry.stdout and "dry run: nothing written" in dry.stdout
    assert "  add initiative R6-33 企業版ふるさと納税額" in dry.stdout
    client = make_client(scratch_url)
    assert client.get(f"{API}/plans").json()["items"] == []

    first = _ingest(scratch_url, tmp_path, REPORT, "--municipality-code", "172014")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == (
        f"ingest {REPORT.name} into plan {SLUG}: 62 rows added, 0 changed,"
        " 0 already as the report says"
    )
    reference = make_client(seeded)
    ours, theirs = _plan_id(client), _plan_id(reference)
    assert _tables(client, ours) == _tables(reference, theirs)
    assert _reads(client, ours) == _reads(reference, theirs)
    achievement = client.get(f"{API}/stats/achievement", params={"fiscal_year": 2024}).json()
    assert (achievement["total"]["achieved"], achievement["total"]["no_status"]) == (8, 1)

    # Provenance is written into source: the inferred status and the table's year say so.
    r6_7 = client.get(f"{API}/initiatives", params={"code": "R6-7"}).json()["items"][0]
    evaluations = client.get(f"{API}/initiatives/{r6_7['id']}/evaluations").json()
    (evaluation,) = evaluations["items"]
    assert evaluation["status"] == "achieved" and "推定" in evaluation["source"]

    again = _ingest(scratch_url, tmp_path, REPORT)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"ingest {REPORT.name} into plan {SLUG}: 0 rows added, 0 changed,"
        " 62 already as the report says"
    ]
    changes = client.get(f"{API}/changes", params={"limit": 200}).json()["items"]
    assert len(changes) == 62  # one change-log entry a row, none from the second run


def test_the_next_years_report_adds_its_year_and_a_corrected_text_changes_its_figures(
    scratch_url: str, tmp_path: Path, make_client: Callable[[str], TestClient]
) -> None:
    migrate.upgrade(scratch_url)
    assert _ingest(scratch_url, tmp_path, REPORT, "--municipality-code", "172014").returncode == 0
    r7 = tmp_path / "kanazawa-plan-progress-r7.txt"
    r7.write_text(_next_year(R6), encoding="utf-8")

    done = _ingest(scratch_url, tmp_path, r7)
    assert done.returncode == 0, done.stderr
    # 9 initiatives carried out, with their evaluations; 9 added; the report, 3 lines, 18 names
    assert done.stdout.splitlines()[-1].startswith(
        f"ingest {r7.name} into plan {SLUG}: 49 rows added, 0 changed,"
    )
    client = make_client(scratch_url)
    report = client.get(f"{API}/reports", params={"fiscal_year": 2025}).json()["items"][0]
    assert [(one["policy_number"], one["items"], one["achieved"]) for one in report["lines"]] == [
        (1, 39, 39),
        (2, 45, 38),
        (3, 40, 32),
    ]
    added = client.get(f"{API}/initiatives", params={"fiscal_year": 2026}).json()["items"]
    assert [item["code"] for item in added][:3] == ["R8-1", "R8-10", "R8-11"]
    carried = client.get(f"{API}/initiatives", params={"code": "R7-107"}).json()["items"]
    assert carried[0]["title"] == "公用車給油事務へのクレジットカードの導入"
    r6 = client.get(f"{API}/reports", params={"fiscal_year": 2024}).json()["items"][0]
    assert [line["achieved"] for line in r6["lines"]] == [38, 38, 32]  # the year before stays

    # The city corrects its R6 text: the figure changes, and only it.
    corrected = tmp_path / "corrected-r6.txt"
    corrected.write_text(
        R6.replace("40 項目※\t32 項目\t80.0%", "40 項目※\t33 項目\t82.5%")
        .replace("124 項目\t108 項目\t87.1%", "124 項目\t109 項目\t87.9%")
        .replace("達成率 87.1% (実施計画 124 項目中 108", "達成率 87.9% (実施計画 124 項目中 109"),
        encoding="utf-8",
    )
    fixed = _ingest(scratch_url, tmp_path, corrected)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines() == [
        "  change report 2024 line of policy 3: achieved 32 → 33",
        f"ingest {corrected.name} into plan {SLUG}: 0 rows added, 1 changed,"
        " 61 already as the report says",
    ]
    r6 = client.get(f"{API}/reports", params={"fiscal_year": 2024}).json()["items"][0]
    assert [line["achieved"] for line in r6["lines"]] == [38, 38, 33]


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_text_not_in_the_format_is_named_by_line_and_writes_nothing(
    scratch_url: str, tmp_path: Path, make_client: Callable[[str], TestClient]
) -> None:
    migrate.upgrade(scratch_url)
    broken = (
        R6.replace("[P48, №.R6-10]", "(P48)")
        .replace("45 項目\t38 項目\t84.4%", "45 項目\t38 項目\t85.0%")
        .replace("令和5年度～令和8年度（4年間）", "4年間")
        .replace("達成率 87.1%", "達成率 88.0%")
    )
    path = tmp_path / "broken.txt"
    path.write_text(broken, encoding="utf-8")
    done = _ingest(scratch_url, tmp_path, path, "--municipality-code", "172014")
    assert done.returncode == 1
    assert done.stdout == ""
    problems = done.stderr.splitlines()
    assert problems[0] == f"error: {path}: 4 problems, nothing was loaded"
    assert problems[1:] == [
        f"  {path}:{_line_of(broken, '4年間')}: the period is written '令和5年度～令和8年度'",
        f"  {path}:{_line_of(broken, '85.0%')}: 85.0% is not 38 of 45 (84.4%, rounded half up)",
        f"  {path}:{_line_of(broken, '88.0%')}: the summary line does not say what 合計 says",
        f"  {path}:{_line_of(broken, '(P48)')}: an item is '- <title> [P<page>, №.<code>]'",
    ]
    # A new plan with no code given is refused before anything is read or written.
    no_code = _ingest(scratch_url, tmp_path, REPORT)
    assert no_code.returncode == 1 and "give --municipality-code" in no_code.stderr
    # A report whose facts break the plan file's rules is named at the text's line too.
    outside = R6.replace("[P38, №.R6-7]", "[P38, №.R9-7]")
    late = tmp_path / "late.txt"
    late.write_text(outside, encoding="utf-8")
    refused = _ingest(scratch_url, tmp_path, late, "--municipality-code", "172014")
    assert refused.returncode == 1
    assert re.search(
        rf"{re.escape(str(late))}:{_line_of(outside, 'R9-7')}: initiatives\[0\]", refused.stderr
    )
    client = make_client(scratch_url)
    assert client.get(f"{API}/plans").json()["items"] == []
    assert client.get(f"{API}/changes").json()["items"] == []
