"""docs/yearly-cycle.md runs as written: a city's year, from the exported workbook to the
published table that matches the computed one.

Every ```sh block of the walk-through runs, in order, in one bash with `set -euo pipefail`
and the system's curl told to fail on an HTTP error, against `python -m app serve` on a fresh
SQLite database (the README test's server), with `$TOKEN` an admin token and
`.venv/bin/python` this interpreter. Then what a person would check is checked over HTTP.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.test_readme import BASH, CURL, ORIGIN, server  # noqa: F401  (server: a fixture)

WALK = Path(__file__).resolve().parent.parent / "docs" / "yearly-cycle.md"


def script(markdown: str, base: str) -> str:
    blocks = re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.M | re.S)
    body = "\n".join(blocks).replace(ORIGIN, base).replace(".venv/bin/python", sys.executable)
    return f'set -euo pipefail\ncurl() {{ {CURL} --fail-with-body "$@"; echo; }}\n{body}'


def run_script(text: str, token: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert BASH is not None
    env = {k: v for k, v in os.environ.items() if k != "TOKEN"} | {"TOKEN": token}
    return subprocess.run(
        [BASH, "-c", text], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(CURL is None or BASH is None, reason="needs curl and bash")
def test_the_yearly_cycle_runs_as_written(server: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    base, token = server
    markdown = WALK.read_text(encoding="utf-8")
    done = run_script(script(markdown, base), token, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "evaluations.xlsx").exists()

    # What the walk-through wrote: the year's evaluations, as the script in step 2 names them.
    written = dict(re.findall(r'\("(R\d+-\d+)", "(達成|未達成|数値未確定)"', markdown))
    status = {"達成": "achieved", "未達成": "not_achieved", "数値未確定": "unconfirmed"}
    evaluations = httpx.get(
        f"{base}/api/v1/evaluations", params={"plan_id": 1, "fiscal_year": 2025, "limit": 100}
    ).json()["items"]
    assert {row["code"]: row["status"] for row in evaluations} == {
        code: status[label] for code, label in written.items()
    }
    achievement = httpx.get(
        f"{base}/api/v1/stats/achievement", params={"plan_id": 1, "fiscal_year": 2025}
    ).json()
    assert achievement["published"] is not None
    assert achievement["matches_published"] is True
    assert achievement["total"]["items"] == len(written)
    # Step 4 sent again, as after a dropped connection: the first answer, nothing twice.
    step_4 = markdown.split("## 4.")[1].split("## 5.")[0]
    again = run_script(script(step_4, base), token, tmp_path)
    assert again.returncode == 0, again.stderr
    assert '"created":3' in again.stdout.replace(" ", "")
