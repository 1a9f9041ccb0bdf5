"""Benchmark of search (issue #19, part 5) at 100,000 initiatives on SQLite.

    .venv/bin/python bench/search.py [--initiatives 100000] [--seconds 8] [--clients 4]

It

1. builds an SQLite database through the real migrations (`app.migrate.upgrade`), seeds the
   Kanazawa plan, and adds initiatives under its measures (titles and descriptions made of
   the seed's own phrases, search keys set the app's way, an evaluation with a result for
   every other one), so the FTS5 indexes are filled by their triggers, as in service;
2. times each search statement's SQL run by the bare driver (sqlite3) two ways: as the
   service runs it (FTS5 trigram MATCH for words of 3+ characters), and as a plain LIKE scan
   of the keys (what the service did before), to show what the index buys;
3. starts the real server (uvicorn app.main:app, one worker, answers not kept:
   ANSWER_CACHE_BYTES=0) and times searches over HTTP, one at a time;
4. loads GET /api/v1/initiatives/{id} (random ids) from `--clients` threads for `--seconds`,
   first alone, then while one more thread searches without pause, and prints the latency
   of the point reads both ways (searches run off the event loop: app/reads.py).

Traffic goes to 127.0.0.1 only; the database lives in a temporary directory, removed at the
end. Figures are printed as Markdown, for bench/README.md (pasted by hand).
"""

import argparse
import functools
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, insert, select
from sqlmodel import Session

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from stats import HOST, running_server  # noqa: E402  (bench/stats.py)

from app import migrate  # noqa: E402
from app.evaluations.service import derived_columns as evaluation_columns  # noqa: E402
from app.initiatives.service import derived_columns as initiative_columns  # noqa: E402
from app.models import evaluations, initiatives, measures  # noqa: E402
from app.reads import SQLITE_DIALECT, Prepared, Sql  # noqa: E402
from app.search import match  # noqa: E402
from app.search import service as search_service  # noqa: E402
from app.search.match import Terms  # noqa: E402
from app.seed import seed  # noqa: E402

# Words a person types: long ones (the trigram index), short ones (LIKE), and several.
# Common words (most rows hold them: the worst case for an index), rare ones (a title's
# number, a code), one found nowhere, and several at once.
QUERIES = ["デジタル", "きゃっしゅれす", "推進", "dx", "第4242号", "b4242", "存在しない語"]
QUERIES += ["デジタル 市民", "かーど 導入", "連携 推進 市民", "第4242号 でじたる"]
PHRASES = [
    "デジタル市民パスポートの導入",
    "キャッシュレス決済の拡大",
    "官民連携によるまちづくり",
    "通学路マップの活用推進",
    "DXアドバイザーの育成",
    "ふるさと納税の活用",
    "公共施設の再整備",
    "広域連携の推進",
    "ペーパーレス会議の定着",
    "オープンデータの公開",
    "窓口のワンストップ化",
    "職員の意識改革",
]


def build(path: Path, count: int) -> None:
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        seed(session)
    rng = random.Random(19)
    with engine.begin() as connection:
        plan_id, measure_ids = None, []
        for row in connection.execute(select(measures.c.id, measures.c.plan_id)):
            measure_ids.append(row.id)
            plan_id = row.plan_id
        rows: list[dict[str, Any]] = []
        for number in range(1, count + 1):
            code = f"B{number}"
            title = "".join(rng.sample(PHRASES, 2)) + f"（第{number}号）"
            description = "、".join(rng.sample(PHRASES, 4)) + "を図ります。"
            rows.append(
                {
                    "plan_id": plan_id,
                    "measure_id": rng.choice(measure_ids),
                    "code": code,
                    "title": title,
                    "description": description,
                    "fiscal_year": 2025,
                    **initiative_columns(code=code, title=title, description=description),
                }
            )
        connection.execute(insert(initiatives), rows)
        ids = connection.execute(select(initiatives.c.id).where(initiatives.c.code.like("B%")))
        results = []
        for index, (initiative_id,) in enumerate(ids):
            if index % 2 == 0:
                result = "、".join(rng.sample(PHRASES, 3)) + "を実施しました。"
                results.append(
                    {
                        "initiative_id": initiative_id,
                        "fiscal_year": 2025,
                        "status": "achieved",
                        "result": result,
                        **evaluation_columns(result=result),
                    }
                )
        connection.execute(insert(evaluations), results)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def timed(call: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median and worst of rounds calls, in milliseconds (after one call to warm up)."""
    call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def scanning_count(terms: Terms, kinds: list[search_service.HitKind]) -> Sql:
    """The count of /search with every word found by LIKE, as without the FTS5 tables."""
    kept = dict(match.FTS_TABLES)
    match.FTS_TABLES.clear()
    try:
        hits = search_service._union(terms, "sqlite", kinds, False)
        return Prepared(select(func.count()).select_from(hits)).sql(SQLITE_DIALECT)
    finally:
        match.FTS_TABLES.update(kept)


def run(connection: sqlite3.Connection, sql: Sql, values: dict[str, Any]) -> Callable[[], Any]:
    parameters = sql.parameters(values)
    return lambda: connection.execute(sql.text, parameters).fetchall()


def statement_figures(path: Path) -> list[str]:
    """The service's search statements on the bare driver: with the index, and scanning."""
    connection = sqlite3.connect(path)
    lines = [
        "| q | /search page (index) | its count (index) | the count by LIKE scan | hits |",
        "|---|---|---|---|---|",
    ]
    kinds = list(search_service.HitKind)
    for query in QUERIES:
        terms = Terms.parse(query)
        page, count = search_service._statements(terms, "sqlite", kinds, False)
        values = {**terms.values(), "limit": 20, "offset": 0}
        count_sql = count.sql(SQLITE_DIALECT)
        total = run(connection, count_sql, values)()[0][0]
        page_ms = timed(run(connection, page.sql(SQLITE_DIALECT), values), 5)
        count_ms = timed(run(connection, count_sql, values), 5)
        scan_ms = timed(run(connection, scanning_count(terms, kinds), values), 3)
        lines.append(
            f"| `{query}` | {page_ms[0]:.1f} ms | {count_ms[0]:.1f} ms"
            f" | {scan_ms[0]:.1f} ms | {total:,} |"
        )
    connection.close()
    return lines


def http_figures(port: int) -> list[str]:
    lines = [
        "| request | median | worst of 10 | total |",
        "|---|---|---|---|",
    ]
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60) as client:
        for query in QUERIES:
            for path in ("/api/v1/search", "/api/v1/initiatives"):
                params = {"q": query, "limit": 20}
                total = client.get(path, params=params).json()["total"]
                median, worst = timed(functools.partial(client.get, path, params=params), 10)
                lines.append(
                    f"| `{path}?q={query}` | {median:.1f} ms | {worst:.1f} ms | {total:,} |"
                )
    return lines


def load(port: int, clients: int, seconds: float, searching: bool, top_id: int) -> dict[str, Any]:
    """Point reads from `clients` threads for `seconds`; with one more thread searching."""
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    searches: list[float] = []
    lock = threading.Lock()

    def reads() -> None:
        rng = random.Random()
        mine = []
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60) as client:
            while time.monotonic() < stop:
                start = time.perf_counter()
                answer = client.get(f"/api/v1/initiatives/{rng.randint(1, top_id)}")
                assert answer.status_code == 200, answer.text
                mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    def search() -> None:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60) as client:
            index = 0
            while time.monotonic() < stop:
                start = time.perf_counter()
                query = QUERIES[index % len(QUERIES)]
                answer = client.get("/api/v1/search", params={"q": query})
                assert answer.status_code == 200, answer.text
                searches.append((time.perf_counter() - start) * 1000)
                index += 1

    threads = [threading.Thread(target=reads) for _ in range(clients)]
    if searching:
        threads.append(threading.Thread(target=search))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p95": latencies[int(len(latencies) * 0.95)],
        "p99": latencies[int(len(latencies) * 0.99)],
        "searches": len(searches),
        "search_p50": statistics.median(searches) if searches else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--initiatives", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as directory:
        path = Path(directory) / "search.db"
        start = time.perf_counter()
        build(path, args.initiatives)
        print(f"built {args.initiatives:,} initiatives in {time.perf_counter() - start:.0f} s\n")
        print("\n".join(statement_figures(path)), "\n")
        top_id = sqlite3.connect(path).execute("SELECT max(id) FROM initiatives").fetchone()[0]
        with running_server(f"sqlite:///{path}", 0, Path(directory)) as port:
            print("\n".join(http_figures(port)), "\n")
            print("| GET /initiatives/{id} | req/s | p50 | p95 | p99 | searches done |")
            print("|---|---|---|---|---|---|")
            for searching in (False, True):
                figures = load(port, args.clients, args.seconds, searching, top_id)
                label = "while searching" if searching else "alone"
                search_p50 = (
                    f"{figures['searches']} (p50 {figures['search_p50']:.0f} ms)"
                    if searching
                    else "-"
                )
                print(
                    f"| {label} | {figures['rps']:.0f} | {figures['p50']:.1f} ms"
                    f" | {figures['p95']:.1f} ms | {figures['p99']:.1f} ms | {search_p50} |"
                )


if __name__ == "__main__":
    main()
