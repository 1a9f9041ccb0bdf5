"""bench/run: the service beside its ceiling and Datasette, in one run on this machine.

    bench/run [--duration 8] [--warmup 2] [--databases sqlite,postgresql] [--no-readme]

(`bench/run` prepares .venv and checks wrk, then runs this file with .venv/bin/python.)

1. Builds one data set twice, on SQLite (a file in a temporary directory) and on PostgreSQL
   (the database `bench_run`, created here and dropped at the end): 4 plans of 2,500
   initiatives (10,000, Japanese titles), each evaluated in fiscal years 2023-2026 (40,000
   evaluations): `python -m app migrate`, then Core `executemany` inserts in one transaction
   (a few seconds); then an editor token through the CLI (`python -m app tokens create`).
2. Starts every server with the same command, `python -m uvicorn <app> --workers 1
   --no-access-log --log-level warning` on an ephemeral port of 127.0.0.1: the bare ASGI
   ceiling (bench/apps/bare.py), FastAPI's hello (bench/apps/hello.py), our service on each
   database (`app.main:app`, its default settings), our service once more on each database
   with `ANSWER_CACHE_BYTES=0` (answers not kept: the cost of the route itself), Datasette on
   the same SQLite file (bench/apps/datasette_app.py, immutable) and, on PostgreSQL, the floor
   of GET one and of the list (bench/apps/read_floor.py: the service's own statements through
   psycopg's async connections behind a bare ASGI app).
3. Loads each endpoint with wrk (32 connections, 2 threads, a warm-up run then a measured one;
   bench/wrk/report.lua prints the figures): the ceiling first and last, then per endpoint ours
   on SQLite, Datasette, ours on SQLite without kept answers, ours on PostgreSQL, ours on
   PostgreSQL without kept answers and PostgreSQL's floor one after the other, so that
   background load drifts over all of them alike. GET one's warm-up asks the
   same ids under another query (`?warm-up=1`), so that it fills none of the kept answers the
   measured run asks for; bench/wrk/ids.lua reports which ids each run asked.
4. Uploads 10,000 evaluations with `POST /api/v1/bulk/evaluations`, in alternation with the
   floor: the same rows through one `executemany` INSERT ... ON CONFLICT DO UPDATE in one
   transaction of the bare driver (sqlite3, psycopg), on the same database.
5. Prints the tables, with each target met or missed, and writes them into bench/README.md
   (the section SECTION_TITLE below; the rest of the file is kept).

Traffic goes to 127.0.0.1 only; every server is stopped when the run ends, on Ctrl-C too.
"""

import argparse
import json
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from sqlalchemy import create_engine, func, make_url, select
from sqlalchemy.exc import OperationalError

# bench/stats.py: the vocabulary and the rows of the synthetic plans, wrk's figures,
# PostgreSQL helpers.
from stats import (
    ACTIONS,
    BENCH,
    DESCRIPTIONS,
    HOST,  # the only address this script sends traffic to
    MUNICIPALITY_STEMS,
    README,
    RESULTS,
    ROOT,
    SEED,
    STATUS_MIX,
    TOPICS,
    UNITS,
    Load,
    Rows,
    add_plan_outline,
    describe_postgres,
    drop_postgres,
    empty_rows,
    evaluation_row,
    fmt_ms,
    fmt_rps,
    free_port,
    http_get,
    initiative_row,
    insert_rows,
    move_sequences,
    reset_postgres,
    revision,
    show_results,
    stop_server,
    wait_until_ready,
    wrk_load,
)

from app.config import Settings
from app.models import evaluations, initiatives, measures, plans, policies
from app.stats.service import COUNT_FIELDS
from app.text import search_key

APPS = BENCH / "apps"
REPORT_LUA = BENCH / "wrk" / "report.lua"
IDS_LUA = BENCH / "wrk" / "ids.lua"
SECTION_TITLE = "## bench/run: the service beside its ceiling and Datasette"
# Added to GET one's path in its warm-up: the service keeps answers by path and query
# (app/web/caching.py), so the warm-up runs the same route on the same ids and rows but leaves
# every id's answer cold for the measured run.
WARMUP_QUERY = "warm-up=1"

DEFAULT_PG_URL = f"postgresql+psycopg://postgres@{HOST}:5432/bench_run"
RESERVED_DATABASES = {"test", "postgres", "template0", "template1"}

# The data set: the same for every server.
PLANS = 4
PER_PLAN = 2_500  # initiatives per plan: 10,000 in all
YEARS = (2023, 2024, 2025, 2026)  # every initiative is evaluated in each: 40,000 evaluations
STATUSES = ("achieved", "not_achieved", "unconfirmed", None)
INITIATIVES = PLANS * PER_PLAN
STATS_PLAN = 2  # the plan of GET /stats/achievement and of Datasette's GROUP BY
BULK_PLAN = 1  # the plan whose 10,000 evaluations (2,500 initiatives x 4 years) are uploaded
BULK_ROUNDS = 3  # uploads and floor writes, in alternation; medians are reported

# The load and the servers: the same for everyone.
CONNECTIONS, THREADS = 32, 2
UVICORN = ["--workers", "1", "--no-access-log", "--log-level", "warning"]

# The targets, on SQLite: requests/s as a fraction of the bare ASGI ceiling, and as a
# multiple of Datasette's matching endpoint.
CEILING_TARGETS = {"one": 0.15, "list": 0.08, "stats": 0.15}
DATASETTE_TARGET = 4.0
# On PostgreSQL (issue 17): the route itself (answers not kept), as a fraction of the floor of
# the same read (bench/apps/read_floor.py), for GET one and the list.
PG_FLOOR = "PostgreSQL floor"
PG_FLOOR_TARGET = 0.5
PG_FLOOR_READS = ("one", "list")


# ---------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------


def data_rows() -> Rows:
    """Every row of the data set, with explicit ids (initiative n of plan p is (p-1)*2500+n)."""
    rng = random.Random(SEED)
    rows = empty_rows()
    for plan in range(1, PLANS + 1):
        add_plan_outline(
            rows,
            plan,
            f"{MUNICIPALITY_STEMS[plan]}市",
            slug=f"bench-run-{plan}",
            municipality_code=f"{plan + 10:02d}{plan:04d}",
        )
        for index in range(1, PER_PLAN + 1):
            initiative_id = (plan - 1) * PER_PLAN + index
            code = f"R5-{index}"
            title = f"{rng.choice(TOPICS)}{rng.choice(ACTIONS)}"
            description = rng.choice(DESCRIPTIONS)
            target = float(rng.choice((10, 20, 50, 100, 500))) if rng.random() < 0.2 else None
            rows["initiatives"].append(
                initiative_row(
                    initiative_id,
                    plan,
                    # contiguous blocks of codes per measure, as plans are written
                    (plan - 1) * 9 + (index - 1) * 9 // PER_PLAN + 1,
                    code,
                    title,
                    description,
                    plan_page=30 + index // 40,
                    fiscal_year=YEARS[0],
                    target=target,
                    unit=rng.choice(UNITS) if target else None,
                )
            )
            for year in YEARS:
                status = rng.choices(STATUSES, STATUS_MIX[year][:4])[0]
                result = rng.choice(RESULTS[status])
                actual = round(target * rng.uniform(0.6, 1.3)) if target and status else None
                evaluation_id = len(rows["evaluations"]) + 1
                rows["evaluations"].append(
                    evaluation_row(evaluation_id, initiative_id, year, status, actual, result)
                )
    return rows


def build(url: str, data: Rows) -> float:
    """Migrate an empty database to head (`python -m app migrate`) and fill it in one
    transaction; return the seconds."""
    started = time.perf_counter()
    cli(url, "migrate")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            tables = (plans, policies, measures, initiatives, evaluations)
            for table in tables:
                insert_rows(connection, table, data[table.name])
            if engine.dialect.name == "postgresql":  # move the sequences past explicit ids
                move_sequences(connection, tables)
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return time.perf_counter() - started


def cli(url: str, *arguments: str) -> str:
    """Run `python -m app ...` on the database at url; return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "app", *arguments],
        cwd=ROOT,
        env=server_env({"DATABASE_URL": url}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise RuntimeError(f"python -m app {' '.join(arguments)}: {done.stderr[-2000:]}")
    return done.stdout


def create_token(url: str) -> str:
    """An editor token for the bulk upload, made with the CLI as a person would (the secret is
    the last line printed)."""
    printed = cli(url, "tokens", "create", "--name", "bench-run", "--role", "editor")
    return printed.strip().splitlines()[-1]


def checkpoint(path: Path) -> None:
    """Move everything from the WAL into the file itself: Datasette reads it immutable."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


@dataclass
class Database:
    """One database the service runs on: its URL, an editor token, and its server's port."""

    name: str  # sqlite | postgresql
    url: str
    build_seconds: float = 0.0
    token: str = ""
    port: int = 0  # its server with the default settings (the one the bulk upload goes to)


@dataclass(frozen=True)
class Ours:
    """One server of ours under load: its label in the tables, database and settings."""

    label: str
    database: str  # sqlite | postgresql
    port: int
    keeps_answers: bool = True  # False: ANSWER_CACHE_BYTES=0

    @property
    def judged(self) -> bool:
        """The targets are judged on SQLite in the default configuration (answers kept)."""
        return self.database == "sqlite" and self.keeps_answers

    @property
    def against_floor(self) -> bool:
        """PostgreSQL without kept answers is judged against its floor (PG_FLOOR_READS)."""
        return self.database == "postgresql" and not self.keeps_answers


NOT_KEPT = "answers not kept"


# ---------------------------------------------------------------------------------------------
# Servers and wrk
# ---------------------------------------------------------------------------------------------


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without any of the service's settings but those given."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields
    }
    return env | extra


@contextmanager
def serving(
    name: str,
    app: str,
    log_dir: Path,
    ready: str,
    env: dict[str, str] | None = None,
    app_dir: Path = ROOT,
) -> Iterator[int]:
    """Run `uvicorn app` (UVICORN options, an ephemeral port) until the block ends; yield
    its port once `ready` answers 200."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    command += [*UVICORN, "--app-dir", str(app_dir)]
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        # A session of its own: a Ctrl-C reaches this script, which stops the server itself.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=server_env(env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_ready(process, port, ready, log_path, name)
            yield port
        finally:
            stop_server(process, grace=15)


@dataclass(frozen=True)
class Walk:
    """The ids one spread run asked for (bench/wrk/ids.lua's WRK_IDS line): thread t asked
    for (start + k * stride) % count + 1, k = 1 .. made."""

    count: int
    stride: int
    threads: tuple[tuple[int, int], ...]  # (start, requests made)

    @property
    def requests(self) -> int:
        """Requests sent, those still in flight at the end included."""
        return sum(made for _, made in self.threads)

    def ids(self) -> set[int]:
        return {
            (start + step * self.stride) % self.count + 1
            for start, made in self.threads
            for step in range(1, made + 1)
        }


def run_wrk(port: int, path: str, seconds: int, spread: bool) -> tuple[Load, Walk | None]:
    """One wrk run; with spread, path holds %d and the ids walk over every initiative (and
    the ids asked for come back too)."""
    timeout = 30
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    command += [f"--timeout={timeout}s", "--latency"]
    if spread:
        command += ["-s", str(IDS_LUA), f"http://{HOST}:{port}", "--", path, str(INITIATIVES)]
    else:
        command += ["-s", str(REPORT_LUA), f"http://{HOST}:{port}{path}"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=True
    )
    figure = wrk_load(done, CONNECTIONS)
    walk = None
    if spread:
        walked = re.search(r"^WRK_IDS (.*)$", done.stdout, re.MULTILINE)
        if walked is None:
            raise RuntimeError(f"no ids line from wrk: {done.stdout}\n{done.stderr}")
        ids = json.loads(walked[1])
        threads = tuple((int(start), int(made)) for start, made in ids["threads"])
        walk = Walk(ids["count"], ids["stride"], threads)
    return figure, walk


@dataclass(frozen=True)
class Measured:
    """A measured wrk run, with the ids the warm-up and the measured run asked (spread)."""

    load: Load
    walk: Walk | None = None
    warmup_walk: Walk | None = None


def load(port: int, path: str, args: Any, spread: bool = False, warmup: str = "") -> Measured:
    """A warm-up run (not counted; on the path `warmup` if given), then the measured one."""
    warmup_walk = None
    if args.warmup:
        warmup_walk = run_wrk(port, warmup or path, args.warmup, spread)[1]
    figure, walk = run_wrk(port, path, args.duration, spread)
    return Measured(figure, walk, warmup_walk)


# ---------------------------------------------------------------------------------------------
# The reads: what each server is asked, checked once before it is loaded
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    key: str  # one | list | stats
    label: str
    ours: str  # path on our service (%d: the id, when spread)
    datasette: str  # the matching path on Datasette
    spread: bool = False

    @staticmethod
    def warmup(path: str, spread: bool) -> str:
        """The warm-up's path: for a spread endpoint, the same with WARMUP_QUERY added."""
        if not spread:
            return path
        return f"{path}{'&' if '?' in path else '?'}{WARMUP_QUERY}"


def achievement_sql(plan_id: int, year: int) -> str:
    """Our achievement aggregate in plain SQL: evaluations of a year by status, per measure of
    a plan (app/stats/service.py, _achievement_query, less the plan's names it also reads),
    for Datasette's ?sql=."""
    counted = {
        "achieved": "e.status = 'achieved'",
        "not_achieved": "e.status = 'not_achieved'",
        "unconfirmed": "e.status = 'unconfirmed'",
        "no_status": "e.id IS NOT NULL AND e.status IS NULL",
        "not_evaluated": f"e.id IS NULL AND i.fiscal_year <= {year}",
        "inferred": "e.status IS NOT NULL AND e.provenance = 'inferred'",
    }
    sums = ",\n  ".join(
        f"coalesce(sum(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS {name}"
        for name, condition in counted.items()
    )
    return (
        "SELECT p.id AS policy_id, p.number AS policy_number, p.title AS policy_title,\n"
        "  m.id AS measure_id, m.number AS measure_number, m.title AS measure_title,\n"
        f"  count(e.status) AS items,\n  {sums}\n"
        "FROM policies p\n"
        "LEFT JOIN measures m ON m.policy_id = p.id\n"
        "LEFT JOIN initiatives i ON i.measure_id = m.id\n"
        f"LEFT JOIN evaluations e ON e.initiative_id = i.id AND e.fiscal_year = {year}\n"
        f"WHERE p.plan_id = {plan_id}\n"
        "GROUP BY p.id, p.number, p.title, m.id, m.number, m.title\n"
        "ORDER BY p.number, m.number"
    )


def get_json(port: int, path: str) -> Any:
    status, body = http_get(port, path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return json.loads(body)


def endpoints(
    ours: list[Ours], datasette_port: int, db_name: str, floor_port: int | None
) -> list[Endpoint]:
    """The three reads, each checked once on every server (and the stats cache filled). GET
    one is checked through its warm-up path, so that no measured id's answer is kept yet.
    PostgreSQL's floor must give the rows the service gives."""
    stats_path = f"/api/v1/stats/achievement?plan_id={STATS_PLAN}"
    answers = [get_json(db.port, stats_path) for db in ours]
    year = answers[0]["fiscal_year"]
    totals = [answer["total"] for answer in answers]
    sql_path = f"/{db_name}.json?" + urlencode({"sql": achievement_sql(STATS_PLAN, year)})
    found = get_json(datasette_port, sql_path)
    columns = found["columns"]
    summed = {name: sum(row[columns.index(name)] for row in found["rows"]) for name in COUNT_FIELDS}
    for total in totals:
        if any(total[name] != value for name, value in summed.items()):
            raise RuntimeError(f"Datasette's GROUP BY gave {summed}, the service {total}")
    for server in ours:
        one = get_json(server.port, Endpoint.warmup("/api/v1/initiatives/1", spread=True))
        listed = get_json(server.port, "/api/v1/initiatives?limit=50")
        if one["id"] != 1 or len(listed["items"]) != 50 or listed["total"] != INITIATIVES:
            raise RuntimeError(f"unexpected answers from {server.label}")
        if floor_port is not None and server.database == "postgresql":
            check_floor(floor_port, one, listed)
    row = get_json(datasette_port, Endpoint.warmup(f"/{db_name}/initiatives/1.json", spread=True))
    table = get_json(datasette_port, f"/{db_name}/initiatives.json?_size=50")
    if len(row["rows"]) != 1 or len(table["rows"]) != 50:
        raise RuntimeError("unexpected answers from Datasette")
    return [
        Endpoint(
            "one",
            "GET one initiative",
            "/api/v1/initiatives/%d",
            f"/{db_name}/initiatives/%d.json",
            spread=True,
        ),
        Endpoint(
            "list",
            "list of 50 initiatives",
            "/api/v1/initiatives?limit=50",
            f"/{db_name}/initiatives.json?_size=50",
        ),
        Endpoint(
            "stats",
            f"achievement of plan {STATS_PLAN}, {year} (warm)",
            stats_path,
            sql_path,
        ),
    ]


def check_floor(port: int, one: dict[str, Any], listed: dict[str, Any]) -> None:
    """The floor's rows (arrays, the id first) are the service's: the same initiative, the
    same page in the same order, the same total."""
    row = get_json(port, Endpoint.warmup("/api/v1/initiatives/1", spread=True))
    page = get_json(port, "/api/v1/initiatives?limit=50")
    ids = [item[0] for item in page["items"]]
    if row[0] != one["id"] or ids != [item["id"] for item in listed["items"]]:
        raise RuntimeError(f"{PG_FLOOR} answered other rows than the service")
    if page["total"] != listed["total"]:
        raise RuntimeError(f"{PG_FLOOR} counted {page['total']}, the service {listed['total']}")


@dataclass
class Reads:
    ceiling_first: Load
    ceiling_last: Load
    hello: Load
    endpoints: list[Endpoint]
    figures: dict[tuple[str, str], Measured] = field(default_factory=dict)  # (endpoint, server)

    @property
    def ceiling(self) -> Load:
        """The two bare ASGI runs as one: the mean of each figure."""
        first, last = self.ceiling_first, self.ceiling_last
        return Load(
            connections=CONNECTIONS,
            seconds=first.seconds + last.seconds,
            requests=first.requests + last.requests,
            rps=(first.rps + last.rps) / 2,
            p50_ms=(first.p50_ms + last.p50_ms) / 2,
            p90_ms=(first.p90_ms + last.p90_ms) / 2,
            p99_ms=(first.p99_ms + last.p99_ms) / 2,
            errors=first.errors + last.errors,
        )


def measure_reads(
    args: Any, ports: dict[str, int], ours: list[Ours], reads_of: list[Endpoint]
) -> Reads:
    """The ceiling first and last; per endpoint, ours on SQLite, Datasette, then the rest of
    ours (SQLite without kept answers, PostgreSQL with and without), then PostgreSQL's floor
    (GET one and the list, on the service's URLs)."""

    def show(label: str, measured: Measured) -> Measured:
        figure = measured.load
        asked = ""
        if measured.walk is not None:
            asked = f"  {measured.walk.requests:,} asked, {len(measured.walk.ids()):,} ids"
        print(
            f"  {label:<66} {figure.rps:>9,.0f} req/s  p50 {fmt_ms(figure.p50_ms):>6} ms  "
            f"p99 {fmt_ms(figure.p99_ms):>6} ms"
            + (f"  {figure.errors} errors" if figure.errors else "")
            + asked,
            flush=True,
        )
        return measured

    first = show("bare ASGI (first run)", load(ports["bare"], "/", args)).load
    hello = show("FastAPI hello", load(ports["hello"], "/", args)).load
    figures: dict[tuple[str, str], Measured] = {}
    for endpoint in reads_of:
        runs = [(server.label, server.port, endpoint.ours) for server in ours]
        runs.insert(1, ("Datasette", ports["datasette"], endpoint.datasette))
        if "pg-floor" in ports and endpoint.key in PG_FLOOR_READS:
            runs.append((PG_FLOOR, ports["pg-floor"], endpoint.ours))
        for server, port, path in runs:
            warmup = Endpoint.warmup(path, endpoint.spread)
            measured = load(port, path, args, endpoint.spread, warmup)
            figures[(endpoint.key, server)] = show(f"{endpoint.label}: {server}", measured)
    last = show("bare ASGI (last run)", load(ports["bare"], "/", args)).load
    return Reads(first, last, hello, reads_of, figures)


# ---------------------------------------------------------------------------------------------
# The bulk upload against its floor
# ---------------------------------------------------------------------------------------------


def bulk_items(round_number: int) -> list[dict[str, Any]]:
    """The 10,000 evaluations of BULK_PLAN (each initiative, each year), all changed: the
    result names the round, so every row is an update whatever was written before."""
    rng = random.Random(SEED + round_number)
    items = []
    for index in range(1, PER_PLAN + 1):
        for year in YEARS:
            status = rng.choices(STATUSES, STATUS_MIX[year][:4])[0]
            result = rng.choice([line for line in RESULTS[status] if line])
            items.append(
                {
                    "code": f"R5-{index}",
                    "fiscal_year": year,
                    "status": status,
                    "result": f"{result}（一括更新 第{round_number}回）",
                }
            )
    return items


def service_upload(db: Database, items: list[dict[str, Any]]) -> float:
    """POST /api/v1/bulk/evaluations; the seconds from sending the body to the whole answer."""
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {db.token}", "Content-Type": "application/json"}
    url = f"http://{HOST}:{db.port}/api/v1/bulk/evaluations?plan_id={BULK_PLAN}"
    with httpx.Client(timeout=600, trust_env=False) as client:
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
    answer = response.json()
    if response.status_code != 200 or answer["updated"] != len(items):
        raise RuntimeError(f"bulk upload answered {response.status_code}: {response.text[:500]}")
    return elapsed


def floor_statement(mark: str) -> str:
    """One upsert per row, matched like the service's (plan, code, fiscal year)."""
    return (
        "INSERT INTO evaluations (initiative_id, fiscal_year, status, result, search_text, "
        "version, created_at, updated_at) "
        f"SELECT id, {mark}, {mark}, {mark}, {mark}, 1, {mark}, {mark} FROM initiatives "
        f"WHERE plan_id = {mark} AND code = {mark} "
        "ON CONFLICT (initiative_id, fiscal_year) DO UPDATE SET status = excluded.status, "
        "result = excluded.result, search_text = excluded.search_text, "
        "version = evaluations.version + 1, updated_at = excluded.updated_at"
    )


def floor_parameters(items: list[dict[str, Any]], now: Any) -> list[tuple[Any, ...]]:
    """The rows as the driver takes them, derived search text included (made before timing)."""
    return [
        (
            item["fiscal_year"],
            item["status"],
            item["result"],
            search_key(item["result"]),
            now,
            now,
            BULK_PLAN,
            item["code"],
        )
        for item in items
    ]


def floor_sqlite(path: Path, items: list[dict[str, Any]]) -> float:
    """The floor on SQLite: sqlite3, the service's pragmas, one transaction, one executemany."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
    parameters = floor_parameters(items, now)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute("PRAGMA synchronous = NORMAL")
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(floor_statement("?"), parameters)
        connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def floor_postgres(url: str, items: list[dict[str, Any]]) -> float:
    """The floor on PostgreSQL: psycopg, one transaction, one executemany."""
    parameters = floor_parameters(items, datetime.now(UTC))
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        started = time.perf_counter()
        with connection.transaction(), connection.cursor() as cursor:
            cursor.executemany(floor_statement("%s"), parameters)
        return time.perf_counter() - started


def check_round(db: Database, round_number: int) -> None:
    """Every evaluation of BULK_PLAN holds the result text of that round (untimed)."""
    engine = create_engine(db.url)
    try:
        with engine.connect() as connection:
            query = (
                select(func.count())
                .select_from(evaluations.join(initiatives))
                .where(
                    initiatives.c.plan_id == BULK_PLAN,
                    evaluations.c.result.like(f"%（一括更新 第{round_number}回）"),
                )
            )
            written = int(connection.scalar(query) or 0)
    finally:
        engine.dispose()
    if written != PER_PLAN * len(YEARS):
        raise RuntimeError(f"round {round_number} left {written} rows written on {db.name}")


@dataclass
class Bulk:
    database: str
    service: list[float]
    floor: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.service) / statistics.median(self.floor)


def measure_bulk(db: Database, sqlite_path: Path | None) -> Bulk:
    """BULK_ROUNDS uploads and floor writes in alternation, each checked to have written all."""
    result = Bulk(db.name, [], [])
    for turn in range(BULK_ROUNDS):
        number = 2 * turn + 1
        result.service.append(service_upload(db, bulk_items(number)))
        check_round(db, number)
        number += 1
        if sqlite_path is not None:
            result.floor.append(floor_sqlite(sqlite_path, bulk_items(number)))
        else:
            result.floor.append(floor_postgres(db.url, bulk_items(number)))
        check_round(db, number)
        print(
            f"  bulk on {db.name}, round {turn + 1}: service {result.service[-1]:.2f} s, "
            f"floor {result.floor[-1]:.3f} s",
            flush=True,
        )
    return result


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    args: Any
    started: datetime
    databases: list[Database]
    ours: list[Ours]  # our servers under load, in the tables' order
    reads: Reads
    bulks: list[Bulk]
    seconds: float
    load_average: tuple[float, float]
    machine: str


def mark(met: bool) -> str:
    return "met" if met else "**MISSED**"


def reads_table(run: Run) -> tuple[list[str], list[str]]:
    """The reads table (markdown lines) and the verdict on each target."""
    reads = run.reads
    ceiling = reads.ceiling
    lines = [
        "| endpoint | server | req/s | p50 ms | p99 ms | req/s ÷ ceiling | p50 × ceiling "
        "| p99 × ceiling | ÷ Datasette | target vs ceiling | target ≥ 4× Datasette |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    verdicts: list[str] = []

    def row(label: str, server: str, figure: Load, extra: tuple[str, str, str]) -> None:
        errors = f" ({figure.errors} errors)" if figure.errors else ""
        lines.append(
            f"| {label} | {server}{errors} | {fmt_rps(figure.rps)} | {fmt_ms(figure.p50_ms)} | "
            f"{fmt_ms(figure.p99_ms)} | {figure.rps / ceiling.rps:.3f} | "
            f"{figure.p50_ms / ceiling.p50_ms:.1f}× | {figure.p99_ms / ceiling.p99_ms:.1f}× | "
            + " | ".join(extra)
            + " |"
        )

    row("ceiling", "bare ASGI (both runs)", ceiling, ("", "", ""))
    row("ceiling", "FastAPI hello", reads.hello, ("", "", ""))
    informational: list[str] = []
    for endpoint in reads.endpoints:
        peer = reads.figures[(endpoint.key, "Datasette")].load
        for server in run.ours:
            figure = reads.figures[(endpoint.key, server.label)].load
            share = figure.rps / ceiling.rps
            versus = figure.rps / peer.rps
            extra = (f"{versus:.2f}×", "—", "—")
            floored = server.against_floor and (endpoint.key, PG_FLOOR) in reads.figures
            if floored:
                extra = (f"{versus:.2f}×", "vs its floor, below", "—")
            elif server.database == "sqlite" and not server.keeps_answers:
                extra = (f"{versus:.2f}×", "informational", "informational")
                informational.append(
                    f"{endpoint.label} {share:.3f} of the ceiling, {versus:.2f}× Datasette"
                )
            elif server.judged:
                goal = CEILING_TARGETS[endpoint.key]
                extra = (
                    f"{versus:.2f}×",
                    f"≥ {goal:g}: {mark(share >= goal)}",
                    mark(versus >= DATASETTE_TARGET),
                )
                verdicts.append(
                    f"{endpoint.label}, SQLite: {share:.3f} of the ceiling (target ≥ {goal:g}, "
                    f"{mark(share >= goal)}); {versus:.2f}× Datasette (target ≥ "
                    f"{DATASETTE_TARGET:g}×, {mark(versus >= DATASETTE_TARGET)})"
                )
            label = server.label
            if not server.keeps_answers:
                how = "judged against its floor" if floored else "informational"
                label = f"{label} (`ANSWER_CACHE_BYTES=0`; {how})"
            row(endpoint.label, label, figure, extra)
        floor = reads.figures.get((endpoint.key, PG_FLOOR))
        if floor is not None:
            row(endpoint.label, f"{PG_FLOOR} (`bench/apps/read_floor.py`)", floor.load, ("",) * 3)
        row(endpoint.label, "Datasette (SQLite)", peer, ("", "", ""))
    if informational:
        verdicts.append(
            f"for information, not judged: SQLite with {NOT_KEPT} (the route itself): "
            + "; ".join(informational)
        )
    return lines, verdicts


def floor_table(run: Run) -> tuple[list[str], list[str]]:
    """PostgreSQL without kept answers against its floor, per read (markdown lines, empty
    without PostgreSQL), and the verdict on each target."""
    lines: list[str] = []
    verdicts: list[str] = []
    for server in run.ours:
        if not server.against_floor:
            continue
        for endpoint in run.reads.endpoints:
            floor = run.reads.figures.get((endpoint.key, PG_FLOOR))
            if floor is None:
                continue
            ours, bottom = run.reads.figures[(endpoint.key, server.label)].load, floor.load
            share = ours.rps / bottom.rps
            met = mark(share >= PG_FLOOR_TARGET)
            if not lines:
                lines += [
                    "| endpoint | row | req/s ÷ floor | p50 × floor | p99 × floor | ours req/s "
                    "| floor req/s | target | verdict |",
                    "|---|---|---:|---:|---:|---:|---:|---|---|",
                ]
            lines.append(
                f"| {endpoint.label} | {server.label} ÷ {PG_FLOOR} | {share:.3f} | "
                f"{ours.p50_ms / bottom.p50_ms:.1f}× | {ours.p99_ms / bottom.p99_ms:.1f}× | "
                f"{fmt_rps(ours.rps)} | {fmt_rps(bottom.rps)} | ≥ {PG_FLOOR_TARGET:g} | {met} |"
            )
            verdicts.append(
                f"{endpoint.label}, PostgreSQL with {NOT_KEPT}: {share:.3f} of the "
                f"{PG_FLOOR} (target ≥ {PG_FLOOR_TARGET:g}, {met})"
            )
    return lines, verdicts


def cold_entries(run: Run) -> list[str]:
    """What GET one's warm-up and measured run asked for, on each server of ours: how many
    of the measured requests met a cold entry (computed by the route), how many a kept one."""
    notes = []
    for server in run.ours:
        measured = run.reads.figures.get(("one", server.label))
        if measured is None or measured.walk is None:
            continue
        walk, ids = measured.walk, measured.walk.ids()
        warmed = ""
        if measured.warmup_walk is not None:
            warm = measured.warmup_walk
            warmed = (
                f"; its warm-up sent {warm.requests:,} over {len(warm.ids()):,} ids, all "
                f"with `?{WARMUP_QUERY}`, so none of them a measured key"
            )
        if server.keeps_answers:
            cold = len(ids)  # each id's first request: nothing asked for that key before
            kept = walk.requests - cold
            notes.append(
                f"{server.label}: the measured run sent {walk.requests:,} requests over "
                f"{len(ids):,} distinct ids{warmed}: {cold:,} were computed by the route (the "
                f"first request of each id, {cold / walk.requests:.0%}) and {kept:,} answered "
                f"from kept answers ({kept / walk.requests:.0%})"
            )
        else:
            notes.append(
                f"{server.label}: {walk.requests:,} requests over {len(ids):,} distinct ids, "
                "every one computed by the route"
            )
    return notes


def results_markdown(run: Run) -> str:
    args, reads = run.args, run.reads
    lines: list[str] = []
    add = lines.append
    add("<!-- written by bench/run; edits in this section are replaced by its next run -->")
    add("")
    add(
        "`bench/run` measures, in one run on one machine, our service beside two references: "
        "its **ceiling** (a bare ASGI app answering a fixed small JSON, `bench/apps/bare.py`, "
        "and FastAPI's hello, `bench/apps/hello.py`) and **Datasette** serving the same SQLite "
        "file. Every server is `python -m uvicorn <app> --host 127.0.0.1 --port <free> "
        f"{' '.join(UVICORN)}` with uvicorn's default loop and HTTP implementations; Datasette "
        "is built as an app in `bench/apps/datasette_app.py` (immutable, as `datasette -i`; "
        "`sql_time_limit_ms` 10000, facet suggestions off as our list makes none). wrk runs on "
        f"127.0.0.1 with {CONNECTIONS} connections and {THREADS} threads, a {args.warmup} s "
        f"warm-up then {args.duration} s measured, `--latency`, its figures printed by "
        "`bench/wrk/report.lua`. Absolute figures move with the machine's load (other work "
        "shares it); compare the ratios, which are taken within the run."
    )
    add("")
    add(
        f"Run of {run.started:%Y-%m-%d %H:%M} UTC, {run.seconds / 60:.1f} min, app at "
        f"{revision()}: `bench/run{command_options(args)}`"
    )
    add("")
    add(run.machine)
    add(
        f"Load average (1 min) at start: {run.load_average[0]:.2f}, at the end: "
        f"{run.load_average[1]:.2f}."
    )
    add("")
    add(
        f"**Data** (the same for every server): {PLANS} plans × 3 policies × 3 measures, "
        f"{INITIATIVES:,} initiatives (codes R5-1 to R5-{PER_PLAN:,} per plan, Japanese titles), "
        f"each evaluated in fiscal years {YEARS[0]}-{YEARS[-1]}: "
        f"{INITIATIVES * len(YEARS):,} evaluations with a mix of statuses; built by "
        "`python -m app migrate` and Core `executemany` inserts ("
        + ", ".join(f"{db.name} {db.build_seconds:.1f} s" for db in run.databases)
        + ")."
    )
    add("")
    add("### Reads")
    add("")
    add(
        "**GET one initiative**: `/api/v1/initiatives/{id}` against Datasette's row "
        "`/plan/initiatives/{id}.json`, the id spread over all 10,000 (`bench/wrk/ids.lua`: "
        "every id in a scattered order, the same on both); its warm-up asks the same ids with "
        f"`?{WARMUP_QUERY}` added, which runs the same route on the same rows but is another "
        "key for the service's kept answers, so that no measured id's answer is kept before "
        "the measured run. **List of 50**: "
        "`/api/v1/initiatives?limit=50` against `/plan/initiatives.json?_size=50`. "
        f"**Achievement (warm)**: `/api/v1/stats/achievement?plan_id={STATS_PLAN}` (the "
        "default fiscal year, the latest evaluated; requested once before, so served from the "
        "service's cache) against the same GROUP BY through Datasette's `/plan.json?sql=` "
        "(evaluations of that plan and year counted by status per measure, as "
        "`app/stats/service.py` does; checked to give the same totals). The ceiling was "
        "measured first and last; its row is the mean of the two "
        f"— first {fmt_rps(reads.ceiling_first.rps)} req/s, last "
        f"{fmt_rps(reads.ceiling_last.rps)} req/s. Ratios: req/s ÷ the ceiling's "
        "(higher is better), latency × the ceiling's (lower is better), req/s ÷ Datasette's. "
        "Targets on SQLite (the issue): GET one ≥ 0.15 of the ceiling, list ≥ 0.08, "
        "achievement ≥ 0.15, and each ≥ 4× Datasette, judged on the default configuration; "
        f"PostgreSQL and SQLite with {NOT_KEPT} are beside, for information. On PostgreSQL, "
        f"GET one and the list with {NOT_KEPT} are judged against their floor (below)."
    )
    add("")
    add(
        "**Answers kept per data version** (`app/web/caching.py`; `ANSWER_CACHE_BYTES`, by "
        "default 64 MiB per process): the service keeps the whole answer to an anonymous "
        "public GET under (data version, path, query, Accept). Every write moves the data "
        "version on, so a kept answer is never stale and no write invalidates anything; a "
        "repeated read costs one primary-key read of the version and a lookup, not the route. "
        "So the list and achievement rows, one URL asked over and over, measure kept answers "
        "after the first request, and GET one measures a mix of cold ids (the route) and "
        "kept ones, counted below. The rows "
        f"*{NOT_KEPT}* are a second server on the same database started with "
        "`ANSWER_CACHE_BYTES=0`: every request runs the route (the middlewares, the "
        "direct reader's queries, the JSON), so they show the cost of the route itself "
        "(their achievement answer still comes from the statistics cache, "
        "`STATS_CACHE_SIZE`, which is separate)."
    )
    add("")
    table, verdicts = reads_table(run)
    lines.extend(table)
    add("")
    table, floor_verdicts = floor_table(run)
    verdicts += floor_verdicts
    if table:
        add(
            f"**PostgreSQL against its floor.** The {PG_FLOOR} (`bench/apps/read_floor.py`) "
            "runs the service's own statements for GET one and the list of 50 (found by "
            "running `read_initiative` and `read_initiatives` of "
            "`app/initiatives/service.py` once against a reader that notes them, compiled for "
            "PostgreSQL at startup): the initiative with its latest evaluation, and the page "
            "with its count in one pipeline, as the service's reader sends them. It runs them "
            "through psycopg's async connections (as many as the service's pool, 10, opened "
            "at startup, handed out by a queue) behind a bare ASGI app, and answers the rows "
            "as JSON arrays; checked to give the service's rows, page order and total. It is "
            "loaded on the service's URLs with the same wrk scripts, right after "
            f"*ours on postgresql, {NOT_KEPT}*. Target (issue 17): that row ≥ "
            f"{PG_FLOOR_TARGET:g} of the floor's req/s."
        )
        add("")
        lines.extend(table)
        add("")
    notes = cold_entries(run)
    if notes:
        add("GET one, what was asked (from `bench/wrk/ids.lua`):")
        add("")
        for note in notes:
            add(f"- {note}.")
        add("")
    add("### Bulk upload of 10,000 evaluations")
    add("")
    add(
        f"`POST /api/v1/bulk/evaluations?plan_id={BULK_PLAN}` with a JSON body of 10,000 rows "
        f"(plan {BULK_PLAN}'s {PER_PLAN:,} initiatives × {len(YEARS)} years: code, fiscal "
        "year, status, result; every row changes, so all are updates), timed from sending to "
        "the whole answer, against the **floor**: the same rows through the bare driver "
        "(sqlite3 with the service's pragmas; psycopg), one `executemany` of "
        "INSERT … SELECT id FROM initiatives WHERE plan_id AND code … ON CONFLICT "
        "(initiative_id, fiscal_year) DO UPDATE, in one transaction, on the same database "
        "(the derived search text is computed before the clock starts). "
        f"{BULK_ROUNDS} of each, in alternation (each with its own values); medians. The "
        "service also validates each row, logs each change in the change feed and moves the "
        "initiatives' versions on."
    )
    add("")
    add("| database | service s | floor s | service ÷ floor | service runs | floor runs |")
    add("|---|---:|---:|---:|---|---|")
    for bulk in run.bulks:
        add(
            f"| {bulk.database} | {statistics.median(bulk.service):.2f} | "
            f"{statistics.median(bulk.floor):.3f} | {bulk.ratio:.1f}× | "
            + ", ".join(f"{s:.2f}" for s in bulk.service)
            + " | "
            + ", ".join(f"{s:.3f}" for s in bulk.floor)
            + " |"
        )
    add("")
    add("### Verdict")
    add("")
    for verdict in verdicts:
        add(f"- {verdict}")
    for bulk in run.bulks:
        add(f"- bulk upload on {bulk.database}: {bulk.ratio:.1f}× the floor (no target set)")
    errors = [key for key, measured in run.reads.figures.items() if measured.load.errors]
    if errors:
        add(f"- **wrk reported errors** in: {', '.join(' / '.join(key) for key in errors)}")
    add("")
    add("### Reproduce")
    add("")
    add(
        "On a fresh clone, `bench/run` (about 4 minutes; under 10). It builds `.venv` with "
        "`make .venv/.installed`, installs the `bench` extra (Datasette), checks for `wrk` "
        "(installs it with apt-get when run as root), then runs `bench/run.py`. It needs "
        "PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` (it creates and drops "
        "the database `bench_run`); `--databases sqlite` leaves PostgreSQL out. Options: "
        "`--duration S` (measured seconds per endpoint, default 8), `--warmup S` (default 2), "
        "`--pg-url URL`, `--no-readme` (print only)."
    )
    return "\n".join(lines)


def command_options(args: Any) -> str:
    shown = ""
    if args.duration != 8:
        shown += f" --duration {args.duration}"
    if args.warmup != 2:
        shown += f" --warmup {args.warmup}"
    if args.databases != ["sqlite", "postgresql"]:
        shown += f" --databases {','.join(args.databases)}"
    return shown


def machine(pg_url: str | None) -> str:
    """The machine and the software measured, in one line."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        int(line.split()[1]) / 1024 / 1024
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        if line.startswith("MemTotal")
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy")
        + ("psycopg", "datasette")
    )
    postgres = describe_postgres(pg_url) if pg_url else "PostgreSQL not measured"
    return (
        f"Machine: {cpu}, nproc {len(os.sched_getaffinity(0))}, {memory:.0f} GiB RAM; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"{versions}; SQLite {sqlite3.sqlite_version}; {postgres}; "
        f"{(wrk.stdout or wrk.stderr).split('[')[0].strip()}."
    )


def write_readme(markdown: str) -> None:
    """Replace the section SECTION_TITLE of bench/README.md (or put it first); keep the rest."""
    current = README.read_text(encoding="utf-8") if README.exists() else ""
    block = f"{SECTION_TITLE}\n\n{markdown}\n\n"
    if SECTION_TITLE not in current:
        README.write_text(block + current, encoding="utf-8")
        return
    head, rest = current.split(SECTION_TITLE, 1)
    following = re.search(r"^#{1,2} ", rest, re.MULTILINE)
    tail = rest[following.start() :] if following else ""
    README.write_text(head + block + tail, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per endpoint")
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        type=lambda value: [part.strip() for part in value.split(",")],
        help="sqlite, or sqlite,postgresql (Datasette needs SQLite)",
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="database to create and drop")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave README.md")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 30 or not 0 <= args.warmup <= 10:
        parser.error("--duration is 1 to 30 seconds, --warmup 0 to 10")
    if args.databases not in (["sqlite"], ["sqlite", "postgresql"]):
        parser.error("--databases is sqlite or sqlite,postgresql")
    pg = make_url(args.pg_url)
    if pg.host != HOST or pg.database in RESERVED_DATABASES or not pg.database:
        parser.error(f"--pg-url must be on {HOST} and name a database of its own")
    return args


def stop_on_signal(signum: int, _frame: Any) -> None:
    """SIGTERM and SIGHUP end the run like Ctrl-C: the servers are stopped on the way out."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    started, clock = datetime.now(UTC), time.perf_counter()
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-run-") as temporary, ExitStack() as stack:
        folder = Path(temporary)
        sqlite_path = folder / "plan.db"  # Datasette names the database after the file: /plan
        databases = [Database("sqlite", f"sqlite:///{sqlite_path}")]
        if "postgresql" in args.databases:
            databases.append(Database("postgresql", args.pg_url))
        data = data_rows()
        for db in databases:
            if db.name == "postgresql":
                try:
                    reset_postgres(db.url)
                except OperationalError as error:
                    raise SystemExit(
                        f"PostgreSQL is not reachable ({error.orig}); start it on {HOST}:5432 "
                        "or run bench/run --databases sqlite"
                    ) from None
                stack.callback(drop_postgres, db.url)  # after the servers have stopped
            db.build_seconds = build(db.url, data)
            db.token = create_token(db.url)
            print(f"built {db.name} in {db.build_seconds:.1f} s", flush=True)
        checkpoint(sqlite_path)
        description = machine(args.pg_url if len(databases) > 1 else None)
        ports = {
            "bare": stack.enter_context(serving("bare", "bare:app", folder, "/", app_dir=APPS)),
            "hello": stack.enter_context(serving("hello", "hello:app", folder, "/", app_dir=APPS)),
            "datasette": stack.enter_context(
                serving(
                    "datasette",
                    "datasette_app:app",
                    folder,
                    "/-/versions.json",
                    {"BENCH_DATASETTE_DB": str(sqlite_path)},
                    app_dir=APPS,
                )
            ),
        }
        ours: list[Ours] = []
        for db in databases:
            env = {"DATABASE_URL": db.url}
            db.port = stack.enter_context(
                serving(f"ours-{db.name}", "app.main:app", folder, "/readyz", env)
            )
            ours.append(Ours(f"ours on {db.name}", db.name, db.port))
            # The same database, every answer computed by the route.
            not_kept = {**env, "ANSWER_CACHE_BYTES": "0"}
            port = stack.enter_context(
                serving(f"ours-{db.name}-not-kept", "app.main:app", folder, "/readyz", not_kept)
            )
            ours.append(Ours(f"ours on {db.name}, {NOT_KEPT}", db.name, port, False))
            if db.name == "postgresql":
                ports["pg-floor"] = stack.enter_context(
                    serving(
                        "floor-postgresql",
                        "bench.apps.read_floor:app",
                        folder,
                        "/api/v1/initiatives/1",
                        {"BENCH_FLOOR_DATABASE_URL": db.url},
                    )
                )
        print("reads:", flush=True)
        reads_of = endpoints(ours, ports["datasette"], "plan", ports.get("pg-floor"))
        reads = measure_reads(args, ports, ours, reads_of)
        print("bulk upload:", flush=True)
        bulks = [measure_bulk(db, sqlite_path if db.name == "sqlite" else None) for db in databases]
    run = Run(
        args=args,
        started=started,
        databases=databases,
        ours=ours,
        reads=reads,
        bulks=bulks,
        seconds=time.perf_counter() - clock,
        load_average=(load_at_start, os.getloadavg()[0]),
        machine=description,
    )
    show_results(results_markdown(run), None if args.no_readme else write_readme)
    print(total_time(time.perf_counter() - clock))
    return 0


def total_time(measured: float) -> str:
    """The whole run's time; from bench/run's start when it set BENCH_RUN_STARTED (its
    preparation of .venv and wrk included)."""
    try:
        total = time.time() - float(os.environ["BENCH_RUN_STARTED"])
    except (KeyError, ValueError):
        total = measured
    return f"total time: {total / 60:.1f} min ({total:.0f} s; bench/run.py {measured:.0f} s)"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: the servers are stopped", file=sys.stderr)
        sys.exit(130)
