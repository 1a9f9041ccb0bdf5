"""Memory while exporting: the server's peak RSS streaming 100k and 1M evaluations as CSV/JSON.

Run:  .venv/bin/python bench/exports.py [--sizes 100000,1000000]

Builds an SQLite database per size through the real migrations (one plan, size/4 initiatives,
4 fiscal years of evaluations), starts `uvicorn app.main:app` on 127.0.0.1 with it, reads
/api/v1/export/evaluations.csv and .json to the end, and reports the server's peak resident
memory (VmHWM) beside its resident memory before the download. Streaming keeps the growth
flat: it should not rise with the number of rows.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from app.models import evaluations, initiatives, measures, plans, policies, utcnow  # noqa: E402
from app.text import natural_sort_key, search_key  # noqa: E402

STATUSES = ["achieved"] * 7 + ["not_achieved", "unconfirmed", None]


def build(url: str, size: int) -> None:
    migrate.upgrade(url)
    engine = create_engine(url)
    now = utcnow()
    stamp = {"version": 1, "created_at": now, "updated_at": now}
    with engine.begin() as connection:
        connection.execute(
            insert(plans),
            {
                "id": 1,
                "slug": "bench",
                "title": "行政経営プラン",
                "municipality_code": "172014",
                "municipality_name": "金沢市",
                "start_fiscal_year": 2023,
                "end_fiscal_year": 2026,
                **stamp,
            },
        )
        connection.execute(
            insert(policies), {"id": 1, "plan_id": 1, "number": 1, "title": "方針", **stamp}
        )
        connection.execute(
            insert(measures),
            {"id": 1, "plan_id": 1, "policy_id": 1, "number": 1, "title": "施策", **stamp},
        )
        count = size // 4
        for start in range(0, count, 10_000):
            rows = []
            for number in range(start, min(start + 10_000, count)):
                code = f"R5-{number + 1}"
                title = f"取組事項{number + 1}：行政データの活用と伝わる情報発信"
                rows.append(
                    {
                        "id": number + 1,
                        "plan_id": 1,
                        "measure_id": 1,
                        "code": code,
                        "code_sort": natural_sort_key(code),
                        "title": title,
                        "fiscal_year": 2023,
                        "numeric_target": False,
                        "search_text": search_key(code, title),
                        **stamp,
                    }
                )
            connection.execute(insert(initiatives), rows)
        for start in range(0, count, 2_500):
            rows = [
                {
                    "initiative_id": number + 1,
                    "fiscal_year": year,
                    "status": STATUSES[(number + year) % len(STATUSES)],
                    "result": "公用車への給油時に用いていた伝票を廃止しました。",
                    "search_text": "",
                    **stamp,
                }
                for number in range(start, min(start + 2_500, count))
                for year in (2023, 2024, 2025, 2026)
            ]
            connection.execute(insert(evaluations), rows)
    engine.dispose()


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(url: str, fmt: str) -> tuple[int, int, int, float]:
    """Return (rows, RSS before, peak RSS, seconds) for one full download in a fresh server."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        httpx.get(f"{base}/api/v1/export/plans.csv", timeout=30)  # warm the code paths
        before = rss_kib(server.pid, "VmRSS")
        lines = 0
        started = time.perf_counter()
        with httpx.stream(
            "GET", f"{base}/api/v1/export/evaluations.{fmt}", timeout=600
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
        peak = rss_kib(server.pid, "VmHWM")
        return lines, before, peak, elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    print(
        f"{'rows':>9} {'format':>6} {'lines':>9} {'RSS before':>11} {'peak RSS':>9} "
        f"{'growth':>8} {'seconds':>8}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(size) for size in args.sizes.split(",")):
            url = f"sqlite:///{folder}/export-{size}.db"
            build(url, size)
            for fmt in ("csv", "json"):
                lines, before, peak, elapsed = measure(url, fmt)
                print(
                    f"{size:>9,} {fmt:>6} {lines:>9,} {before / 1024:>9.0f}MB "
                    f"{peak / 1024:>7.0f}MB {(peak - before) / 1024:>6.0f}MB {elapsed:>8.1f}"
                )


if __name__ == "__main__":
    main()
