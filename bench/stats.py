"""Benchmark of the statistics endpoints at national scale (issue 4, item 7).

    .venv/bin/python bench/stats.py [--sizes 10000,100000,1000000]
                                    [--databases sqlite,postgresql] [--duration 8]

For each database and size (the number of evaluations, about), it

1. builds a database through the real migrations (`app.migrate.upgrade`) holding municipalities'
   plans of 150 initiatives over fiscal years 2023-2026 (1,741 plans at 1M, the number of
   Japanese municipalities; proportionally fewer below), then ANALYZE;
2. starts the real server (uvicorn app.main:app, one worker, 127.0.0.1, an ephemeral port) with
   STATS_CACHE_SIZE=0 and ANSWER_CACHE_BYTES=0 (nothing cached), and beside it the floor
   behind a bare ASGI app (bench/apps/floor.py) and a bare ASGI app answering a constant
   (bench/apps/bare.py);
3. times in turn, round after round: the floor (the endpoint's aggregate SQL, the service's own
   statement, run by the bare driver: sqlite3 or psycopg), the service's computation without
   HTTP, the floor over HTTP, the uncached server over HTTP, and the bare round trip; then
   loads the uncached server with wrk;
4. starts it again as deployed (the statistics cache and the answers kept per data version,
   app/web/caching.py: warm) and measures it with wrk against GET /api/v1/initiatives/{id};
5. prints the figures, checks them against the targets and writes them into bench/README.md
   (between the results markers).

Every loop is bounded in calls and seconds, every wrk run in seconds; traffic goes to
127.0.0.1 only. Nothing outside bench/ is written but the databases: an SQLite file in a
temporary directory, and the PostgreSQL database `bench_stats` (dropped and created again for
every size, dropped at the end).
"""

import argparse
import asyncio
import functools
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import psycopg
from pydantic_core import to_json
from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Table,
    create_engine,
    func,
    make_url,
    select,
    text,
)

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.models import (
    evaluations,
    initiatives,
    measures,
    plans,
    policies,
    report_lines,
    reports,
)
from app.reads import POSTGRESQL_DIALECT, SQLITE_DIALECT, Prepared, make_reader
from app.stats import service
from app.text import natural_sort_key, search_key
from app.versions import read_version

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "wrk" / "report.lua"
README = BENCH / "README.md"
RESULTS_START = "<!-- results:start (written by bench/stats.py; edits here are replaced) -->"
RESULTS_END = "<!-- results:end -->"

HOST = "127.0.0.1"  # the only address this script sends traffic to
DEFAULT_PG_URL = f"postgresql+psycopg://postgres@{HOST}:5432/bench_stats"

# The shape of the data.
PLANS_PER_MILLION = 1741  # Japan's municipalities: 1M evaluations is one plan each
INITIATIVES_PER_PLAN = 150
ADDED_IN_2024 = 12  # initiatives R6-..., listed from 2024; the others are R5-..., from 2023
YEARS = (2023, 2024, 2025, 2026)
YEAR = 2024  # the fiscal year every measurement asks for (令和6年度), the one with reports
STAMP = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)
SEED = 20261129

# Targets (issue 4, item 7), as ratios measured in the same run.
UNCACHED_MAX_RATIO = 2.0  # uncached HTTP p50 at most 2x the floor
WARM_MIN_RATIO = 0.8  # warm req/s at least 0.8x GET /initiatives/{id} req/s
ONE_PLAN_MAX_GROWTH = 1.5  # one plan: p50 at the largest size at most 1.5x the smallest
ALL_PLANS_MAX_SLOPE = 1.1  # all plans: log-log slope of p50 against rows at most 1.1 (linear)

# Bounds of the uncached rounds (in_turn): at most this many rounds, stopping after this many
# seconds (but at least MIN_CALLS rounds, each bounded by the database).
ONE_PLAN_CALLS, ONE_PLAN_SECONDS = 2000, 8.0
ALL_PLANS_CALLS, ALL_PLANS_SECONDS = 200, 20.0
MIN_CALLS = 3

WARM_CONNECTIONS, WARM_THREADS = 32, 2

# Synthetic but plausible Japanese text.
MUNICIPALITY_STEMS = (
    "北山 南川 東野 西原 中島 大谷 小松 高田 森本 石田 松原 竹内 梅田 桜井 青木 白石 黒川 "
    "赤坂 金田 銀山 水沢 山口 川上 岡崎 長浜 上野 下田 新庄 本宮 若松 平野 坂井 芦原 美浜"
).split()
MUNICIPALITY_KINDS = ("市", "市", "市", "町", "町", "村")
POLICY_TITLES = ("行政組織の質を高める", "共創の質を高める", "財政基盤の質を高める")
POLICY_FOCUS = ("ヒトの育成と情報発信の強化", "ヒトとの連携の推進", "モノ・カネの有効活用")
MEASURE_TITLES = (
    "働き方のDXと機能的な組織運営",
    "行政データの活用と伝わる情報発信",
    "職員の意識改革と人材の確保",
    "多様な主体との協働の推進",
    "民間の創意工夫を活用する官民連携の推進",
    "自治体間における広域連携の推進",
    "公共施設の保有量の適正化と施設環境の充実",
    "効果的な政策立案と歳入の確保",
    "特別会計の整理合理化と経営基盤の強化",
)
TOPICS = (
    "窓口業務",
    "電子申請",
    "公用車給油事務",
    "通学路マップ",
    "採用情報の発信",
    "商店街の交流イベント",
    "リノベーションまちづくり",
    "消防指令センター",
    "教育・福祉施設",
    "ふるさと納税",
    "庁内会議資料",
    "オープンデータ",
    "AI議事録作成",
    "公共施設の予約",
    "市税のキャッシュレス納付",
    "地域コミュニティ活動",
    "広域ごみ処理",
    "上下水道事業",
)
ACTIONS = (
    "のデジタル化",
    "の見直し",
    "の効率化",
    "の活用推進",
    "に関する官民連携",
    "の共同運用",
    "の再整備",
    "の拡充",
    "のペーパーレス化",
    "への新技術の導入",
)
DESCRIPTIONS = (
    None,
    None,
    "市民の利便性向上と事務負担の軽減を図る。",
    "関係部局と連携し、段階的に実施する。",
    "他自治体の先進事例を参考に検討を進める。",
)
RESULTS = {
    "achieved": (
        "計画どおり実施しました。",
        "目標を達成し、市民サービスの向上を図りました。",
        "前年度に引き続き取組を推進し、所期の成果を得ました。",
        "関係団体と連携して実施し、事務負担の軽減につながりました。",
        "運用を開始し、利用件数が着実に増加しました。",
    ),
    "not_achieved": (
        "目標に届きませんでした。次年度に取組内容を見直します。",
        "関係機関との調整に時間を要し、実施が遅れました。",
    ),
    "unconfirmed": ("数値が未確定のため、確定後に評価します。",),
    None: (None, "評価を集計中です。"),
}
UNITS = ("件", "%", "人", "回", "千円")
# Status mix of the evaluations of each year: achieved, not_achieved, unconfirmed, no status,
# and no evaluation at all (counted as not_evaluated). 2026 is the year being assessed.
STATUS_MIX = {
    2023: (0.86, 0.08, 0.02, 0.02, 0.02),
    2024: (0.85, 0.07, 0.03, 0.03, 0.02),
    2025: (0.80, 0.08, 0.05, 0.04, 0.03),
    2026: (0.45, 0.05, 0.10, 0.25, 0.15),
}
STATUS_CHOICES = ("achieved", "not_achieved", "unconfirmed", None, "missing")


# ---------------------------------------------------------------------------------------------
# Building the database
# ---------------------------------------------------------------------------------------------


def plan_count(size: int) -> int:
    return max(1, round(size * PLANS_PER_MILLION / 1_000_000))


@functools.cache
def _code_sort(code: str) -> str:
    return natural_sort_key(code)


@functools.cache
def _result_search(result: str | None) -> str:
    return search_key(result)


# The rows both benchmarks build (bench/run.py builds its data set with these too), each table
# a list of dicts for Core executemany, with explicit ids.
Rows = dict[str, list[dict[str, Any]]]
DATA_TABLES = ("plans", "policies", "measures", "initiatives", "evaluations")
TRACKED = {"version": 1, "created_at": STAMP, "updated_at": STAMP}
ROWS_PER_EXECUTE = 10_000


def empty_rows() -> Rows:
    return {table: [] for table in DATA_TABLES}


def add_plan_outline(
    rows: Rows, plan: int, name: str, slug: str, municipality_code: str, **plan_columns: Any
) -> None:
    """Add plan number `plan` (named after the municipality `name`) to rows, with its 3
    policies of 3 measures each; ids follow from the plan number (policy p of plan n is
    (n-1)*3+p, measure m of it (n-1)*9+(p-1)*3+m). plan_columns: more columns of the plan."""
    rows["plans"].append(
        {
            "id": plan,
            **TRACKED,
            "slug": slug,
            "title": f"{name}行政経営プラン",
            "municipality_code": municipality_code,
            "municipality_name": name,
            "philosophy": "質の高い市民サービスを創り続ける行政経営の実践",
            "start_fiscal_year": YEARS[0],
            "end_fiscal_year": YEARS[-1],
            "source": "ベンチマーク用の合成データ",
            "license": "CC-BY-4.0",
            **plan_columns,
        }
    )
    for number in range(1, 4):
        policy_id = (plan - 1) * 3 + number
        rows["policies"].append(
            {
                "id": policy_id,
                **TRACKED,
                "plan_id": plan,
                "number": number,
                "title": POLICY_TITLES[number - 1],
                "focus": POLICY_FOCUS[number - 1],
            }
        )
        for measure_number in range(1, 4):
            rows["measures"].append(
                {
                    "id": (plan - 1) * 9 + (number - 1) * 3 + measure_number,
                    **TRACKED,
                    "plan_id": plan,
                    "policy_id": policy_id,
                    "number": measure_number,
                    "title": MEASURE_TITLES[(number - 1) * 3 + measure_number - 1],
                }
            )


def initiative_row(
    initiative_id: int,
    plan: int,
    measure_id: int,
    code: str,
    title: str,
    description: str | None,
    plan_page: int,
    fiscal_year: int,
    target: float | None,
    unit: str | None,
) -> dict[str, Any]:
    """An initiative's row, its derived columns (code_sort, search_text) included."""
    return {
        "id": initiative_id,
        **TRACKED,
        "plan_id": plan,
        "measure_id": measure_id,
        "code": code,
        "code_sort": _code_sort(code),
        "title": title,
        "description": description,
        "plan_page": plan_page,
        "fiscal_year": fiscal_year,
        "numeric_target": target is not None,
        "target_value": target,
        "target_unit": unit,
        "search_text": search_key(code, title, description),
    }


def evaluation_row(
    evaluation_id: int,
    initiative_id: int,
    year: int,
    status: str | None,
    actual: float | None,
    result: str | None,
) -> dict[str, Any]:
    """An evaluation's row, its search text included."""
    return {
        "id": evaluation_id,
        **TRACKED,
        "initiative_id": initiative_id,
        "fiscal_year": year,
        "status": status,
        "actual_value": actual,
        "result": result,
        "source": None,
        "search_text": _result_search(result),
    }


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Core executemany inserts, ROWS_PER_EXECUTE rows at a time."""
    for start in range(0, len(rows), ROWS_PER_EXECUTE):
        connection.execute(table.insert(), rows[start : start + ROWS_PER_EXECUTE])


def move_sequences(connection: Connection, tables: Iterable[Table]) -> None:
    """PostgreSQL: move each table's id sequence past the explicit ids, as a real load would."""
    for table in tables:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT max(id) FROM {table.name}))"
            )
        )


def plan_rows(plan: int, evaluation_id: int) -> Rows:
    """Every row of one plan; ids follow from the plan number (evaluations' from the caller)."""
    rng = random.Random(SEED * 100_003 + plan)
    stem = MUNICIPALITY_STEMS[plan % len(MUNICIPALITY_STEMS)]
    name = f"{stem}{MUNICIPALITY_KINDS[plan % len(MUNICIPALITY_KINDS)]}"
    rows = empty_rows()
    add_plan_outline(
        rows,
        plan,
        name,
        slug=f"bench-{plan:05d}",
        # prefecture (01-47) and a municipality number: 6 characters like 172014
        municipality_code=f"{plan % 47 + 1:02d}{plan % 10_000:04d}",
        license_url="https://creativecommons.org/licenses/by/4.0/deed.ja",
        attribution=f"出典：{name}",
    )
    # policy of each measure, and 2024 counts per policy for the published report
    published = {number: [0, 0, 0] for number in range(1, 4)}  # items, achieved, unconfirmed
    listed_2023 = INITIATIVES_PER_PLAN - ADDED_IN_2024
    for index in range(1, INITIATIVES_PER_PLAN + 1):
        first_year = 2023 if index <= listed_2023 else 2024
        code = f"R{first_year - 2018}-{index}"
        # contiguous blocks of codes per measure, as plans are written
        position = index - 1 if index <= listed_2023 else (index - listed_2023 - 1) * 12
        measure_index = min(8, position * 9 // listed_2023)
        policy_number = measure_index // 3 + 1
        title = f"{TOPICS[rng.randrange(len(TOPICS))]}{ACTIONS[rng.randrange(len(ACTIONS))]}"
        description = DESCRIPTIONS[rng.randrange(len(DESCRIPTIONS))]
        numeric = rng.random() < 0.2
        initiative_id = (plan - 1) * INITIATIVES_PER_PLAN + index
        target = float(rng.choice((10, 20, 50, 100, 500, 1000))) if numeric else None
        unit = UNITS[rng.randrange(len(UNITS))] if numeric else None
        rows["initiatives"].append(
            initiative_row(
                initiative_id,
                plan,
                (plan - 1) * 9 + measure_index + 1,
                code,
                title,
                description,
                plan_page=30 + index // 3,
                fiscal_year=first_year,
                target=target,
                unit=unit,
            )
        )
        for year in YEARS:
            if year < first_year:
                continue
            status = rng.choices(STATUS_CHOICES, STATUS_MIX[year])[0]
            if status == "missing":
                continue
            result = rng.choice(RESULTS[status])
            actual = None
            if target is not None and status is not None:
                actual = round(target * rng.uniform(0.6 if status != "achieved" else 1.0, 1.3))
            rows["evaluations"].append(
                evaluation_row(evaluation_id, initiative_id, year, status, actual, result)
            )
            evaluation_id += 1
            if year == YEAR and status is not None:
                counts = published[policy_number]
                counts[0] += 1
                counts[1] += status == "achieved"
                counts[2] += status == "unconfirmed"
    rows["reports"] = [
        {
            "id": plan,
            **TRACKED,
            "plan_id": plan,
            "fiscal_year": YEAR,
            "title": f"{name}行政経営プランの取組状況（令和6年度）",
            "published_on": date(2025, 6, 30),
            "source": "ベンチマーク用の合成データ",
        }
    ]
    rows["report_lines"] = [
        {
            "id": (plan - 1) * 3 + number,
            **TRACKED,
            "report_id": plan,
            "policy_id": (plan - 1) * 3 + number,
            "items": items,
            "achieved": achieved,
            "unconfirmed": unconfirmed,
        }
        for number, (items, achieved, unconfirmed) in published.items()
    ]
    return rows


TABLES = (plans, policies, measures, initiatives, evaluations, reports, report_lines)
PLANS_PER_BATCH = 40


@dataclass
class Built:
    plans: int
    initiatives: int
    evaluations: int
    evaluations_2024: int
    seconds: float
    analyze_seconds: float


def reset_postgres(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_postgres(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def build(url: str, n_plans: int) -> Built:
    """Migrate an empty database to head, fill it with n_plans plans, then ANALYZE."""
    started = time.perf_counter()
    migrate.upgrade(url)
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(url)
    if is_sqlite:
        with engine.connect() as connection:  # a bulk load: no fsync until the end
            connection.exec_driver_sql("PRAGMA journal_mode = WAL")
            connection.exec_driver_sql("PRAGMA synchronous = OFF")
    evaluation_id = 1
    with engine.begin() as connection:
        for first in range(1, n_plans + 1, PLANS_PER_BATCH):
            batch: Rows = {table.name: [] for table in TABLES}
            for plan in range(first, min(first + PLANS_PER_BATCH, n_plans + 1)):
                for name, rows in plan_rows(plan, evaluation_id).items():
                    batch[name].extend(rows)
                    if name == "evaluations":
                        evaluation_id += len(rows)
            for table in TABLES:  # parents first, in one transaction
                insert_rows(connection, table, batch[table.name])
        if not is_sqlite:  # explicit ids: move the sequences past them, as a real load would
            move_sequences(connection, TABLES)
        totals = {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in (plans, initiatives, evaluations)
        }
        in_2024 = connection.scalar(
            select(func.count()).select_from(evaluations).where(evaluations.c.fiscal_year == YEAR)
        )
    loaded = time.perf_counter()
    if is_sqlite:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("PRAGMA optimize")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        # VACUUM ANALYZE rather than ANALYZE alone: the statistics, and the visibility map an
        # autovacuum would otherwise build in the middle of the measurements.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    finished = time.perf_counter()
    return Built(
        plans=int(totals["plans"] or 0),
        initiatives=int(totals["initiatives"] or 0),
        evaluations=int(totals["evaluations"] or 0),
        evaluations_2024=int(in_2024 or 0),
        seconds=finished - started,
        analyze_seconds=finished - loaded,
    )


# ---------------------------------------------------------------------------------------------
# The floor: the same SQL in a bare loop, and the service functions without HTTP
# ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    median_ms: float
    calls: int
    min_ms: float

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        return cls(statistics.median(samples), len(samples), min(samples))


def aggregate_queries() -> dict[str, Prepared]:
    """The aggregate SQL of each endpoint: the service's own statements."""
    return {"achievement": service.ACHIEVEMENT, "plans": service.PLAN_COUNTS}


def app_engine(url: str) -> Engine:
    """The app's own engine factory: the same driver, pool and per-connection settings."""
    return make_engine(Settings(database_url=url))


@contextmanager
def bare_driver(url: str) -> Iterator[Callable[[Prepared, dict[str, Any]], list[Any]]]:
    """The floor's driver: one plain sqlite3 or psycopg connection, no SQLAlchemy, no pool.
    Yields run(statement, values): the statement's SQL text (as the service compiles it)
    executed, every row fetched."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection: Any = sqlite3.connect(parsed.database or "", isolation_level=None)
        dialect: Dialect = SQLITE_DIALECT
    else:
        plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(plain, autocommit=True)
        dialect = POSTGRESQL_DIALECT

    def run(statement: Prepared, values: dict[str, Any]) -> list[Any]:
        sql = statement.sql(dialect)
        rows: list[Any] = connection.execute(sql.text, sql.parameters(values)).fetchall()
        return rows

    try:
        yield run
    finally:
        connection.close()


def check_floor(url: str, plan_id: int, n_plans: int) -> None:
    queries = aggregate_queries()
    with bare_driver(url) as run:
        rows = run(queries["achievement"], {"plan_id": plan_id, "year": YEAR})
        every = run(queries["plans"], {"year": YEAR})
    if len(rows) < 2 or len(every) != n_plans:
        raise RuntimeError(f"the aggregate queries found {len(rows)} and {len(every)} rows")


# ---------------------------------------------------------------------------------------------
# The real server, and wrk
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def http_get(
    port: int, path: str, timeout: float = 120.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)  # no proxy, ever
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_ready(
    process: subprocess.Popen[bytes], port: int, path: str, log_path: Path, name: str
) -> None:
    """Poll GET path until it answers 200 (at most 60 s); fail if the server exits first."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-2000:]}")
        try:
            if http_get(port, path, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} was not ready within 60 s")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited after grace seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def running_server(url: str, cache_size: int | None, log_dir: Path) -> Iterator[int]:
    """uvicorn app.main:app, one worker, on an ephemeral port of 127.0.0.1; stopped on exit."""
    env = {"DATABASE_URL": url, "STATS_CACHE_SIZE": None, "ANSWER_CACHE_BYTES": None}
    if cache_size is not None:
        env["STATS_CACHE_SIZE"] = str(cache_size)
    if cache_size == 0:
        # Uncached means uncached: no answers kept in front of the routes either
        # (app/web/caching.py). The warm server runs as deployed, with both.
        env["ANSWER_CACHE_BYTES"] = "0"
    with running_app("app.main:app", env, log_dir, "/readyz") as port:
        yield port


@contextmanager
def running_app(
    target: str, env: dict[str, str | None], log_dir: Path, ready_path: str
) -> Iterator[int]:
    """uvicorn target with the service's options, its environment changed by env (None:
    removed), on an ephemeral port of 127.0.0.1, once ready_path answers 200; stopped on exit."""
    port = free_port()
    environment = dict(os.environ)
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log_path = log_dir / f"uvicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
        try:
            wait_until_ready(process, port, ready_path, log_path, target)
            yield port
        finally:
            stop_server(process, grace=20)


@dataclass
class Load:
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int


def run_wrk(port: int, path: str, connections: int, threads: int, seconds: int) -> Load:
    timeout = 60
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout}s",
        "--latency",
        # As browsers, curl --compressed, requests and httpx ask: the service sends large
        # kept answers gzip-compressed to such clients (app/web/caching.py).
        "-H",
        "Accept-Encoding: gzip",
        "-s",
        str(LUA),
        f"http://{HOST}:{port}{path}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=True
    )
    return wrk_load(done, connections)


def wrk_load(done: subprocess.CompletedProcess[str], connections: int) -> Load:
    """The figures of a finished wrk run, from the WRK_JSON line bench/wrk/*.lua print."""
    found = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no summary from wrk: {done.stdout}\n{done.stderr}")
    summary = json.loads(found[1])
    duration = summary["duration_us"] / 1e6
    return Load(
        connections=connections,
        seconds=duration,
        requests=summary["requests"],
        rps=summary["requests"] / duration if duration else 0.0,
        p50_ms=summary["p50_us"] / 1000,
        p90_ms=summary["p90_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=sum(summary["errors"].values()),
    )


def check_answers(port: int, paths: dict[str, str], n_plans: int) -> None:
    """Each URL answers 200 with the expected content (and, warm, fills the cache)."""
    for name, path in paths.items():
        status, body = http_get(port, path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")
        answer = json.loads(body)
        if name == "achievement" and not (
            answer["total"]["items"] > 0 and answer["matches_published"]
        ):
            raise RuntimeError(f"unexpected achievement answer: {body[:300]!r}")
        if name == "plans" and len(answer["items"]) != n_plans:
            raise RuntimeError(f"/stats/plans gave {len(answer['items'])} rows, not {n_plans}")


# What is timed, in turn, for the uncached figures (see "What it does" in bench/README.md).
FLOOR, COMPUTED, FLOOR_HTTP, HTTP, TRANSPORT = (
    "floor",
    "computed",
    "floor_http",
    "http",
    "transport",
)


@dataclass
class Uncached:
    """The floor and the uncached answer, each way, measured in alternation (one of each in
    turn), so that a change in the machine's load weighs on all of them alike."""

    timings: dict[str, Timing]

    def ratio(self, over: str, under: str) -> float:
        return self.timings[over].median_ms / self.timings[under].median_ms

    @property
    def computed_ratio(self) -> float:  # judged: the answer's statements and shaping
        return self.ratio(COMPUTED, FLOOR)

    @property
    def http_ratio(self) -> float:  # judged: end to end, both over the same HTTP
        return self.ratio(HTTP, FLOOR_HTTP)

    @property
    def rounds(self) -> int:
        return self.timings[FLOOR].calls


class KeptAlive:
    """GET one path again and again on one kept-alive HTTP/1.1 connection."""

    def __init__(self, port: int, path: str) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=120)  # no proxy, ever
        self.path = path

    def __call__(self) -> bytes:
        self.connection.request("GET", self.path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.path} answered {response.status}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.connection.close()


async def in_turn(
    calls: dict[str, Callable[[], Any]], max_rounds: int, max_seconds: float
) -> dict[str, Timing]:
    """Time each call once per round, in a rotating order, for at most max_rounds rounds or
    max_seconds (at least MIN_CALLS rounds); a call may be a coroutine function. One warm-up
    round first."""

    async def clock(call: Callable[[], Any]) -> float:
        before = time.perf_counter_ns()
        done = call()
        if asyncio.iscoroutine(done):
            await done
        return (time.perf_counter_ns() - before) / 1e6

    names = list(calls)
    for name in names:
        await clock(calls[name])
    samples: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    rounds = 0
    while rounds < max_rounds:
        if rounds >= MIN_CALLS and time.perf_counter() - started >= max_seconds:
            break
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(await clock(calls[name]))
        rounds += 1
    return {name: Timing.of(values) for name, values in samples.items()}


@dataclass
class Http:
    one_plan: Uncached  # one connection each: latency, no queueing
    all_plans: Uncached
    one_plan_uncached_loaded: Load  # 32 connections, cache off: throughput, for information
    all_plans_uncached_loaded: Load  # 2 connections, cache off
    one_plan_warm: Load
    all_plans_warm: Load
    initiative: Load  # the reference for warm throughput


def measure_uncached(
    url: str, paths: dict[str, str], plan_id: int, ports: dict[str, int], args: Any
) -> tuple[Uncached, Uncached]:
    """Both endpoints: the floor, the service's computation, the floor over HTTP, the uncached
    server, and the bare round trip, in alternation."""
    queries = aggregate_queries()
    engine = app_engine(url)
    reader = make_reader(engine, pool_size=2, busy_timeout_ms=5000)

    # As the uncached server's routes run them (app/stats/router.py): the data version is read
    # with the answer's statements.
    async def one_plan() -> bytes:
        answer, _, _ = await service.read_achievement(
            reader=reader, plan_id=plan_id, fiscal_year=YEAR, with_version=True
        )
        return to_json(answer)

    async def all_plans() -> bytes:
        await read_version(reader)  # as the route does: the version first, then the answer
        return to_json(await service.plan_comparison(reader=reader, fiscal_year=YEAR))

    async def measure() -> tuple[Uncached, Uncached]:
        results = []
        with bare_driver(url) as run:
            for name, computed, values, rounds, seconds in (
                ("achievement", one_plan, {"plan_id": plan_id, "year": YEAR},
                 ONE_PLAN_CALLS, ONE_PLAN_SECONDS),
                ("plans", all_plans, {"year": YEAR}, ALL_PLANS_CALLS, ALL_PLANS_SECONDS),
            ):  # fmt: skip
                path = paths[name]
                clients = {
                    FLOOR_HTTP: KeptAlive(ports[f"floor_{name}"], path),
                    HTTP: KeptAlive(ports["uncached"], path),
                    TRANSPORT: KeptAlive(ports["bare"], "/"),
                }
                calls: dict[str, Callable[[], Any]] = {
                    FLOOR: functools.partial(run, queries[name], values),
                    COMPUTED: computed,
                    **clients,
                }
                try:
                    results.append(Uncached(await in_turn(calls, rounds, seconds)))
                finally:
                    for client in clients.values():
                        client.close()
        await reader.close()
        return results[0], results[1]

    try:
        return asyncio.run(measure())
    finally:
        engine.dispose()


@contextmanager
def floor_servers(url: str, paths: dict[str, str], log_dir: Path) -> Iterator[dict[str, int]]:
    """bench/apps/floor.py for each endpoint, and bench/apps/bare.py (the bare round trip)."""
    floor = "bench.apps.floor:app"
    with (
        running_app(floor, floor_env(url, "achievement"), log_dir, paths["achievement"]) as one,
        running_app(floor, floor_env(url, "plans"), log_dir, paths["plans"]) as every,
        running_app("bench.apps.bare:app", {}, log_dir, "/") as bare,
    ):
        yield {"floor_achievement": one, "floor_plans": every, "bare": bare}


def floor_env(url: str, query: str) -> dict[str, str | None]:
    return {"BENCH_FLOOR_DATABASE_URL": url, "BENCH_FLOOR_QUERY": query}


def measure_http(url: str, plan_id: int, initiative_id: int, n_plans: int, args: Any) -> Http:
    paths = {
        "achievement": f"/api/v1/stats/achievement?plan_id={plan_id}&fiscal_year={YEAR}",
        "plans": f"/api/v1/stats/plans?fiscal_year={YEAR}",
        "initiative": f"/api/v1/initiatives/{initiative_id}",
    }
    seconds = args.duration
    with (
        floor_servers(url, paths, args.log_dir) as ports,
        running_server(url, 0, args.log_dir) as port,
    ):
        check_answers(port, paths, n_plans)
        one_plan, all_plans = measure_uncached(
            url, paths, plan_id, ports | {"uncached": port}, args
        )
        c, t = WARM_CONNECTIONS, WARM_THREADS
        one_loaded = run_wrk(port, paths["achievement"], c, t, seconds)
        # heavy uncached: fewer connections (wrk's timeout is 60 s)
        all_loaded = run_wrk(port, paths["plans"], 2, 1, seconds)
    with running_server(url, None, args.log_dir) as port:
        check_answers(port, paths, n_plans)
        c, t = WARM_CONNECTIONS, WARM_THREADS
        # The reference is measured in two halves around the warm runs, so that a change in the
        # machine's background load during them weighs on both sides of the ratio alike.
        before = run_wrk(port, paths["initiative"], c, t, max(1, seconds // 2))
        one_warm = run_wrk(port, paths["achievement"], c, t, seconds)
        all_warm = run_wrk(port, paths["plans"], c, t, seconds)
        after = run_wrk(port, paths["initiative"], c, t, max(1, seconds - seconds // 2))
    return Http(
        one_plan, all_plans, one_loaded, all_loaded, one_warm, all_warm, combine(before, after)
    )


def combine(first: Load, second: Load) -> Load:
    """Two runs of the same URL as one: requests over time; the worse of the percentiles."""
    seconds = first.seconds + second.seconds
    requests = first.requests + second.requests
    return Load(
        connections=first.connections,
        seconds=seconds,
        requests=requests,
        rps=requests / seconds,
        p50_ms=max(first.p50_ms, second.p50_ms),
        p90_ms=max(first.p90_ms, second.p90_ms),
        p99_ms=max(first.p99_ms, second.p99_ms),
        errors=first.errors + second.errors,
    )


# ---------------------------------------------------------------------------------------------
# One run, the report
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    database: str
    size: int
    built: Built
    http: Http
    load: tuple[float, float]  # the machine's 1-minute load average before and after

    @property
    def one_plan_warm_ratio(self) -> float:
        return self.http.one_plan_warm.rps / self.http.initiative.rps

    @property
    def all_plans_warm_ratio(self) -> float:
        return self.http.all_plans_warm.rps / self.http.initiative.rps


@dataclass
class Run:
    args: Any
    started: datetime
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0
    machine: str = ""
    revision: str = ""


def mark(met: bool) -> str:
    return "met" if met else "**MISSED**"


def fmt_ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def slope(small: float, large: float, rows_small: int, rows_large: int) -> float:
    return math.log(large / small) / math.log(rows_large / rows_small)


def growth_rows(cases: list[Case]) -> list[tuple[str, Callable[[Case], float], str]]:
    return [
        ("achievement, HTTP ms", lambda c: c.http.one_plan.timings[HTTP].median_ms, "one"),
        ("achievement, floor ms", lambda c: c.http.one_plan.timings[FLOOR].median_ms, ""),
        ("plans, HTTP ms", lambda c: c.http.all_plans.timings[HTTP].median_ms, "all"),
        ("plans, floor ms", lambda c: c.http.all_plans.timings[FLOOR].median_ms, ""),
    ]


def by_database(cases: list[Case]) -> dict[str, list[Case]]:
    grouped: dict[str, list[Case]] = {}
    for case in sorted(cases, key=lambda c: c.size):
        grouped.setdefault(case.database, []).append(case)
    return grouped


def growth_met(kind: str, growth: float, k: float) -> bool:
    return growth <= ONE_PLAN_MAX_GROWTH if kind == "one" else k <= ALL_PLANS_MAX_SLOPE


def results_markdown(run: Run) -> str:
    cases = run.cases
    lines: list[str] = []
    add = lines.append
    add(
        f"Run of {run.started:%Y-%m-%d %H:%M} UTC, {run.seconds / 60:.1f} min, app at "
        f"{run.revision}: `{command(run)}`"
    )
    add("")
    add(run.machine)
    add("")
    add("### Data built")
    add("")
    add(
        "| database | size | plans | initiatives | evaluations | of them 2024 | build s | "
        "of it ANALYZE s | load avg before → after |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for case in cases:
        b = case.built
        add(
            f"| {case.database} | {case.size:,} | {b.plans:,} | {b.initiatives:,} | "
            f"{b.evaluations:,} | {b.evaluations_2024:,} | {b.seconds:.1f} | "
            f"{b.analyze_seconds:.1f} | {case.load[0]:.1f} → {case.load[1]:.1f} |"
        )
    add("")
    add(f"### Uncached against the floor (target: ≤ {UNCACHED_MAX_RATIO:g}× the floor)")
    add("")
    add(
        "Five things timed in turn, one of each per round (the order rotating), so that the "
        "machine's background load weighs on all alike; medians of the rounds, in ms. "
        "**Floor**: the endpoint's aggregate SQL (the service's own statement, "
        "`service.ACHIEVEMENT` or `service.PLAN_COUNTS`) run by the bare driver (sqlite3 or "
        "psycopg) on one connection. **Computed**: the service's uncached answer without HTTP: "
        "every statement it runs and the Python that shapes the JSON, as the route runs them "
        "(`service.read_achievement` and `service.plan_comparison` on the app's reader"
        "). **Floor over HTTP**: the floor's SQL and driver behind a bare ASGI app "
        "(`bench/apps/floor.py`) on the same uvicorn command as the service. **HTTP**: the "
        "service's server with `STATS_CACHE_SIZE=0` and `ANSWER_CACHE_BYTES=0`. **Round "
        "trip**: a bare ASGI app answering a constant (`bench/apps/bare.py`): what one HTTP "
        "request costs on this machine before any work. Every HTTP client is one kept-alive "
        "connection (latency, no queueing). The two targets compare like with like: "
        "computed ÷ floor (no HTTP on either side) and HTTP ÷ floor over HTTP (the same "
        "round trip on both). HTTP ÷ floor, a request against SQL with no request, is shown "
        "for information beside the bare round trip ÷ floor, which no server can go below. "
        "**Under load**: wrk against the uncached server, for information."
    )
    add("")
    add(
        "| database | evaluations | endpoint | floor | computed | ÷ floor | target | "
        "floor over HTTP | HTTP | ÷ floor over HTTP | target | rounds | HTTP ÷ floor | "
        "round trip (÷ floor) | under load: req/s, p50 (connections) |"
    )
    add("|---|---:|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for case in cases:
        h = case.http
        for name, measured, load in (
            ("achievement, one plan", h.one_plan, h.one_plan_uncached_loaded),
            ("plans, all plans", h.all_plans, h.all_plans_uncached_loaded),
        ):
            t = measured.timings
            add(
                f"| {case.database} | {case.built.evaluations:,} | {name} | "
                f"{fmt_ms(t[FLOOR].median_ms)} | {fmt_ms(t[COMPUTED].median_ms)} | "
                f"{measured.computed_ratio:.2f}× | "
                f"{mark(measured.computed_ratio <= UNCACHED_MAX_RATIO)} | "
                f"{fmt_ms(t[FLOOR_HTTP].median_ms)} | {fmt_ms(t[HTTP].median_ms)} | "
                f"{measured.http_ratio:.2f}× | {mark(measured.http_ratio <= UNCACHED_MAX_RATIO)} | "
                f"{measured.rounds} | {measured.ratio(HTTP, FLOOR):.2f}× | "
                f"{fmt_ms(t[TRANSPORT].median_ms)} ({measured.ratio(TRANSPORT, FLOOR):.2f}×) | "
                f"{fmt_rps(load.rps)}, {fmt_ms(load.p50_ms)} ({load.connections}) |"
            )
    add("")
    add(
        f"### Warm against `GET /api/v1/initiatives/{{id}}` (target: ≥ {WARM_MIN_RATIO:g}× its "
        "requests/s)"
    )
    add("")
    add(
        "The server as deployed (its statistics cache and the answers kept per data version,"
        f" `app/web/caching.py`), wrk with {WARM_CONNECTIONS} connections and "
        f"{WARM_THREADS} threads, `--latency`, `Accept-Encoding: gzip` as browsers and HTTP "
        "libraries send it (answers over 4 KiB are kept gzip-compressed too; the initiative "
        "and the one-plan achievement are smaller and go as they are); each answer was "
        "requested once before (the cache is warm). The reference is the sum of two "
        "half-length runs, before and after the stats runs."
    )
    add("")
    add(
        "| database | evaluations | GET initiative req/s (p50 ms) | "
        "achievement warm req/s (p50 ms) | ratio | target | "
        "plans warm req/s (p50 ms) | ratio | target |"
    )
    add("|---|---:|---:|---:|---:|---|---:|---:|---|")
    for case in cases:
        h = case.http
        add(
            f"| {case.database} | {case.built.evaluations:,} | "
            f"{fmt_rps(h.initiative.rps)} ({fmt_ms(h.initiative.p50_ms)}) | "
            f"{fmt_rps(h.one_plan_warm.rps)} ({fmt_ms(h.one_plan_warm.p50_ms)}) | "
            f"{case.one_plan_warm_ratio:.2f}× | "
            f"{mark(case.one_plan_warm_ratio >= WARM_MIN_RATIO)} | "
            f"{fmt_rps(h.all_plans_warm.rps)} ({fmt_ms(h.all_plans_warm.p50_ms)}) | "
            f"{case.all_plans_warm_ratio:.2f}× | "
            f"{mark(case.all_plans_warm_ratio >= WARM_MIN_RATIO)} |"
        )
    add("")
    add("### Growth with size")
    add("")
    add(
        "Uncached HTTP and floor medians from the table above, per size. One plan should stay "
        f"nearly constant (target: largest ≤ {ONE_PLAN_MAX_GROWTH:g}× smallest); all plans "
        f"linear (target: log-log slope of time against evaluations ≤ {ALL_PLANS_MAX_SLOPE:g}; "
        "1 is linear, below 1 means fixed costs still weigh). Slopes per step, then overall. "
        "The floor rows are for reference."
    )
    add("")
    for database, mine in by_database(cases).items():
        if len(mine) < 2:
            continue
        first, last = mine[0], mine[-1]
        sizes = " | ".join(f"{c.built.evaluations:,}" for c in mine)
        add(f"| {database}: evaluations | {sizes} | growth | slopes | target |")
        add("|---|" + "---:|" * len(mine) + "---:|---:|---|")
        for label, value, kind in growth_rows(mine):
            values = " | ".join(fmt_ms(value(c)) for c in mine)
            growth = value(last) / value(first)
            steps = [
                slope(value(a), value(b), a.built.evaluations, b.built.evaluations)
                for a, b in zip(mine, mine[1:], strict=False)
            ]
            k = slope(value(first), value(last), first.built.evaluations, last.built.evaluations)
            shown = ", ".join(f"{step:.2f}" for step in steps)
            if len(steps) > 1:
                shown += f"; {k:.2f}"
            target = mark(growth_met(kind, growth, k)) if kind else ""
            add(f"| {label} | {values} | {growth:.2f}× | {shown} | {target} |")
        add("")
    add("### Verdict")
    add("")
    for item in verdict(cases):
        add(f"- {item}")
    return "\n".join(lines)


def verdict(cases: list[Case]) -> list[str]:
    out = []
    limit = UNCACHED_MAX_RATIO
    checks: list[tuple[str, Callable[[Case], bool], Callable[[Case], str]]] = [
        ("uncached one plan, computed ≤ 2× floor",
         lambda c: c.http.one_plan.computed_ratio <= limit,
         lambda c: f"{c.http.one_plan.computed_ratio:.2f}×"),
        ("uncached one plan, HTTP ≤ 2× floor over HTTP",
         lambda c: c.http.one_plan.http_ratio <= limit,
         lambda c: f"{c.http.one_plan.http_ratio:.2f}×"),
        ("uncached all plans, computed ≤ 2× floor",
         lambda c: c.http.all_plans.computed_ratio <= limit,
         lambda c: f"{c.http.all_plans.computed_ratio:.2f}×"),
        ("uncached all plans, HTTP ≤ 2× floor over HTTP",
         lambda c: c.http.all_plans.http_ratio <= limit,
         lambda c: f"{c.http.all_plans.http_ratio:.2f}×"),
        ("warm one plan ≥ 0.8× GET initiative",
         lambda c: c.one_plan_warm_ratio >= WARM_MIN_RATIO,
         lambda c: f"{c.one_plan_warm_ratio:.2f}×"),
        ("warm all plans ≥ 0.8× GET initiative",
         lambda c: c.all_plans_warm_ratio >= WARM_MIN_RATIO,
         lambda c: f"{c.all_plans_warm_ratio:.2f}×"),
    ]  # fmt: skip
    for label, ok, show in checks:
        missed = [c for c in cases if not ok(c)]
        if not missed:
            out.append(f"{label}: met in all {len(cases)} cases")
        else:
            where = ", ".join(f"{c.database} {c.built.evaluations:,} ({show(c)})" for c in missed)
            out.append(f"{label}: **MISSED** in {len(missed)} of {len(cases)}: {where}")
    for database, mine in by_database(cases).items():
        if len(mine) < 2:
            continue
        first, last = mine[0], mine[-1]
        parts = []
        for label, value, kind in growth_rows(mine):
            if not kind:
                continue
            growth = value(last) / value(first)
            k = slope(value(first), value(last), first.built.evaluations, last.built.evaluations)
            parts.append(
                f"{label.split(',')[0]} grows {growth:.2f}×, slope {k:.2f} "
                f"({mark(growth_met(kind, growth, k))})"
            )
        ratio = last.built.evaluations / first.built.evaluations
        out.append(f"{database}, over {ratio:.0f}× the rows: " + "; ".join(parts))
    errors = [
        c for c in cases if any(isinstance(v, Load) and v.errors for v in vars(c.http).values())
    ]
    if errors:
        out.append(
            "**wrk reported errors** in: "
            + ", ".join(f"{c.database} {c.built.evaluations:,}" for c in errors)
        )
    return out


def command(run: Run) -> str:
    a = run.args
    return (
        f".venv/bin/python bench/stats.py --sizes {','.join(map(str, a.sizes))} "
        f"--databases {','.join(a.databases)} --duration {a.duration}"
    )


def machine_line(load_at_start: float, postgres: str | None) -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    wrk_version = (wrk.stdout or wrk.stderr).split("[")[0].strip()
    versions = ", ".join(
        f"{name} {package_metadata.version(name)}"
        for name in ("fastapi", "uvicorn", "sqlalchemy", "psycopg")
    )
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, {memory}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; {versions}; "
        f"SQLite {sqlite3.sqlite_version}; {postgres or 'PostgreSQL not measured'}; "
        f"{wrk_version}. Load average (1 min) at start: {load_at_start:.2f}, at the end: "
        f"{os.getloadavg()[0]:.2f} (other work shares the machine: see the load per case)."
    )


def revision() -> str:
    """The commit measured, and whether app/ or migrations/ differ from it (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "app", "migrations"],
            cwd=ROOT,
            capture_output=True,
            timeout=10,
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return "an unknown commit"
    return f"commit {head}" + (" with uncommitted changes in app/ or migrations/" if dirty else "")


def describe_postgres(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        version = connection.scalar(text("SHOW server_version"))
        settings = {
            name: connection.scalar(text(f"SHOW {name}"))
            for name in ("shared_buffers", "work_mem", "effective_cache_size", "jit")
        }
    engine.dispose()
    shown = ", ".join(f"{name}={value}" for name, value in settings.items())
    return f"PostgreSQL {str(version).split()[0]} ({shown})"


def write_readme(markdown: str) -> None:
    current = README.read_text(encoding="utf-8") if README.exists() else ""
    block = f"{RESULTS_START}\n\n{markdown}\n\n{RESULTS_END}"
    if RESULTS_START in current and RESULTS_END in current:
        head, rest = current.split(RESULTS_START, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        README.write_text(head + block + tail, encoding="utf-8")
    else:
        README.write_text(current + "\n## Results\n\n" + block + "\n", encoding="utf-8")


def show_results(markdown: str, write: Callable[[str], None] | None) -> None:
    """Print the results; with write (the script's own write_readme), put them into
    bench/README.md too."""
    print()
    print(markdown)
    if write is not None:
        write(markdown)
        print(f"\nwritten to {README.relative_to(ROOT)}")


def parse_args(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        type=lambda value: [int(part) for part in value.split(",")],
        help="evaluations per database, about (comma-separated)",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        type=lambda value: [part.strip() for part in value.split(",")],
        help="sqlite and/or postgresql",
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds of each wrk run (1 to 60)")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL database to (re)create"
    )
    parser.add_argument("--no-readme", action="store_true", help="print only; leave README.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 60:
        parser.error("--duration is 1 to 60 seconds")
    if any(size < 1000 or size > 5_000_000 for size in args.sizes):
        parser.error("each size is 1000 to 5000000")
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown databases: {', '.join(sorted(unknown))}")
    if make_url(args.pg_url).host != HOST:
        parser.error(f"--pg-url must point at {HOST}")
    if shutil.which("wrk") is None:
        parser.error("wrk is missing: apt-get install -y wrk")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run(args=args, started=datetime.now(UTC))
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    run.revision = revision()
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as temporary:
        args.log_dir = Path(temporary)
        for database in args.databases:
            for size in sorted(args.sizes):
                run.cases.append(measure_case(database, size, args, Path(temporary)))
    run.seconds = time.perf_counter() - started
    run.machine = machine_line(load_at_start, _POSTGRES.get(args.pg_url))
    show_results(results_markdown(run), None if args.no_readme else write_readme)
    if args.json:
        args.json.write_text(json.dumps(as_json(run), indent=2, default=str), encoding="utf-8")
    return 0


_POSTGRES: dict[str, str] = {}  # url: version and settings, noted when the database is made


def measure_case(database: str, size: int, args: Any, temporary: Path) -> Case:
    """Build one database, measure it, and remove it."""
    n_plans = plan_count(size)
    load_before = os.getloadavg()[0]
    tag = f"[{database} {size:,}]"
    if database == "sqlite":
        path = temporary / f"bench-{size}.db"
        url = f"sqlite:///{path}"
    else:
        url = args.pg_url
        reset_postgres(url)
        _POSTGRES[url] = describe_postgres(url)
    try:
        print(f"{tag} building {n_plans:,} plans ...", flush=True)
        built = build(url, n_plans)
        print(f"{tag} {built.evaluations:,} evaluations in {built.seconds:.1f} s", flush=True)
        plan_id = (n_plans + 1) // 2
        initiative_id = (plan_id - 1) * INITIATIVES_PER_PLAN + INITIATIVES_PER_PLAN // 2
        check_floor(url, plan_id, n_plans)
        figures = measure_http(url, plan_id, initiative_id, n_plans, args)
    finally:
        if database == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            drop_postgres(url)
    one, every = figures.one_plan, figures.all_plans
    print(
        f"{tag} one plan: computed {one.computed_ratio:.2f}×, HTTP {one.http_ratio:.2f}× "
        f"the floor; all plans: {every.computed_ratio:.2f}×, {every.http_ratio:.2f}×; "
        f"warm {figures.one_plan_warm.rps:,.0f} and {figures.all_plans_warm.rps:,.0f} req/s, "
        f"initiative {figures.initiative.rps:,.0f} req/s",
        flush=True,
    )
    return Case(database, size, built, figures, (load_before, os.getloadavg()[0]))


def as_json(run: Run) -> dict[str, Any]:
    return {
        "started": run.started.isoformat(),
        "seconds": run.seconds,
        "command": command(run),
        "machine": run.machine,
        "cases": [
            {
                "database": c.database,
                "size": c.size,
                "load": c.load,
                "built": asdict(c.built),
                "http": asdict(c.http),
            }
            for c in run.cases
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
