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
   the same SQLite file (bench/apps/datasette_app.py, immutable) and, on each database, the
   floor of GET one and of the list (bench/apps/read_floor.py: the service's own statements
   through the bare driver behind a bare ASGI app).
3. Loads each endpoint with wrk (32 connections, 2 threads, a warm-up run then a measured one;
   bench/wrk/report.lua prints the figures): the ceiling first and last, then per endpoint ours
   on SQLite, Datasette, ours on SQLite without kept answers, SQLite's floor, ours on
   PostgreSQL, ours on PostgreSQL without kept answers and PostgreSQL's floor one after the
   other, so that
   background load drifts over all of them alike. GET one walks over ONE_IDS ids, so that
   each is asked several times, as a popular page's are; its warm-up asks the same ids with
   another Accept (`Accept: application/json`), so that it fills none of the kept answers the
   measured run asks for; bench/wrk/ids.lua reports which ids each run asked.
4. Uploads 1,000, 5,000 and 10,000 evaluations (half new, half updates) with
   `POST /api/v1/bulk/evaluations`, in alternation with the floor: the same rows through one
   `executemany` INSERT ... ON CONFLICT DO UPDATE in one transaction of the bare driver
   (sqlite3, psycopg), on the same database; and the server's peak memory during each.
5. Prints the tables, with each target met or missed, and writes them into bench/README.md
   (the section SECTION_TITLE below; the rest of the file is kept).

Traffic goes to 127.0.0.1 only; every server is stopped when the run ends, on Ctrl-C too.
"""

import argparse
import itertools
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
# Sent by GET one's warm-up (the measured run sends no Accept): the service keeps answers by
# path, query and Accept (app/web/caching.py), so the warm-up runs the same route on the same
# ids and rows but leaves every id's answer cold for the measured run. (It was a query
# parameter; the service now refuses one a path does not take.)
WARMUP_ACCEPT = "application/json"
# The ids GET one walks over (of INITIATIVES): at a few thousand requests a second, each is
# asked ten times or more in a measured run, so the kept-answers row measures kept answers
# and not, on a slow machine, mostly first requests (bench/README.md, the AMD run of 5d0daf1).
ONE_IDS = 1_000

DEFAULT_PG_URL = f"postgresql+psycopg://postgres@{HOST}:5432/bench_run"
RESERVED_DATABASES = {"test", "postgres", "template0", "template1"}

# The data set: the same for every server.
PLANS = 4
PER_PLAN = 2_500  # initiatives per plan: 10,000 in all
YEARS = (2023, 2024, 2025, 2026)  # every initiative is evaluated in each: 40,000 evaluations
STATUSES = ("achieved", "not_achieved", "unconfirmed", None)
INITIATIVES = PLANS * PER_PLAN
STATS_PLAN = 2  # the plan of GET /stats/achievement and of Datasette's GROUP BY
BULK_PLAN = 1  # the plan whose evaluations (up to 2,500 initiatives x 4 years) are uploaded
BULK_SIZES = (1_000, 5_000, 10_000)  # rows per upload: the last is judged, all show linearity
BULK_ROUNDS = 3  # uploads and floor writes of each size, in alternation; medians are reported
# Before every upload and floor write (untimed), the evaluations of these years of BULK_PLAN
# are deleted, so that half of each upload's rows are new and half update existing ones.
NEW_YEARS = YEARS[2:]

# The load and the servers: the same for everyone.
CONNECTIONS, THREADS = 32, 2
UVICORN = ["--workers", "1", "--no-access-log", "--log-level", "warning"]
SERVER_PIDS: dict[int, int] = {}  # port -> process id of each server `serving` runs

# The targets, on SQLite: requests/s as a fraction of the bare ASGI ceiling, and as a
# multiple of Datasette's matching endpoint.
CEILING_TARGETS = {"one": 0.15, "list": 0.08, "stats": 0.15}
DATASETTE_TARGET = 4.0
# The route itself (answers not kept; issue 17). On SQLite, as a fraction of the ceiling, the
# list also ≥ 4× Datasette with a p99 at most 10× the ceiling's; on PostgreSQL, as a fraction
# of the floor of the same read (bench/apps/read_floor.py), for GET one and the list.
ROUTE_TARGETS = {"one": 0.12, "list": 0.06, "stats": 0.10}
ROUTE_DATASETTE_READS = ("list",)
ROUTE_P99_TARGET = 10.0  # × the ceiling's p99, for the list
FLOORS = {"sqlite": "SQLite floor", "postgresql": "PostgreSQL floor"}
PG_FLOOR_TARGET = 0.5
FLOOR_READS = ("one", "list")
# Bulk (issue 17): 10,000 rows within 3× the floor on each database; time per row not growing
# with the rows (each size at most BULK_LINEAR_SLACK × the per-row time of the size before);
# the server's peak memory during an upload at most BULK_MEMORY_MB above its idle size.
BULK_FLOOR_TARGET = 3.0
BULK_LINEAR_SLACK = 1.25
BULK_MEMORY_MB = 100


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
    keeps_rows: bool = True  # False: ROW_CACHE_BYTES=0 as well (for information)

    @property
    def judged(self) -> bool:
        """CEILING_TARGETS are judged on SQLite in the default configuration (answers kept)."""
        return self.database == "sqlite" and self.keeps_answers

    @property
    def route(self) -> bool:
        """ROUTE_TARGETS are judged on SQLite without kept answers (rows kept, as by
        default)."""
        return self.database == "sqlite" and not self.keeps_answers and self.keeps_rows

    @property
    def against_floor(self) -> bool:
        """PostgreSQL without kept answers is judged against its floor (FLOOR_READS)."""
        return self.database == "postgresql" and not self.keeps_answers and self.keeps_rows


NOT_KEPT = "answers not kept"
NOTHING_KEPT = "nothing kept"


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
            SERVER_PIDS[port] = process.pid
            yield port
        finally:
            SERVER_PIDS.pop(port, None)
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


def run_wrk(
    port: int, path: str, seconds: int, spread: bool, accept: str = ""
) -> tuple[Load, Walk | None]:
    """One wrk run; with spread, path holds %d and the ids walk over ONE_IDS initiatives (and
    the ids asked for come back too); with accept, each request sends that Accept."""
    timeout = 30
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    command += [f"--timeout={timeout}s", "--latency"]
    if accept:
        command += ["-H", f"Accept: {accept}"]
    if spread:
        command += ["-s", str(IDS_LUA), f"http://{HOST}:{port}", "--", path, str(ONE_IDS)]
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


def load(port: int, path: str, args: Any, spread: bool = False) -> Measured:
    """A warm-up run (not counted; for a spread endpoint, with WARMUP_ACCEPT), then the
    measured one."""
    warmup_walk = None
    if args.warmup:
        accept = WARMUP_ACCEPT if spread else ""
        warmup_walk = run_wrk(port, path, args.warmup, spread, accept)[1]
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


def get_json(port: int, path: str, accept: str = "") -> Any:
    status, body = http_get(port, path, headers={"Accept": accept} if accept else None)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return json.loads(body)


def endpoints(
    ours: list[Ours], datasette_port: int, db_name: str, floor_ports: dict[str, int]
) -> list[Endpoint]:
    """The three reads, each checked once on every server (and the stats cache filled). GET
    one is checked through its warm-up path, so that no measured id's answer is kept yet.
    Each database's floor must give the rows the service gives on it."""
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
        one = get_json(server.port, "/api/v1/initiatives/1", WARMUP_ACCEPT)
        listed = get_json(server.port, "/api/v1/initiatives?limit=50")
        if one["id"] != 1 or len(listed["items"]) != 50 or listed["total"] != INITIATIVES:
            raise RuntimeError(f"unexpected answers from {server.label}")
        if server.database in floor_ports:
            check_floor(floor_ports[server.database], FLOORS[server.database], one, listed)
    row = get_json(datasette_port, f"/{db_name}/initiatives/1.json", WARMUP_ACCEPT)
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


def check_floor(port: int, name: str, one: dict[str, Any], listed: dict[str, Any]) -> None:
    """The floor's rows (arrays, the id first) are the service's: the same initiative, the
    same page in the same order, the same total."""
    row = get_json(port, "/api/v1/initiatives/1", WARMUP_ACCEPT)
    page = get_json(port, "/api/v1/initiatives?limit=50")
    ids = [item[0] for item in page["items"]]
    if row[0] != one["id"] or ids != [item["id"] for item in listed["items"]]:
        raise RuntimeError(f"{name} answered other rows than the service")
    if page["total"] != listed["total"]:
        raise RuntimeError(f"{name} counted {page['total']}, the service {listed['total']}")


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
    ours (SQLite without kept answers, PostgreSQL with and without), each database's floor
    right after ours without kept answers on it (GET one and the list, on the service's
    URLs)."""

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
        runs: list[tuple[str, int, str]] = []  # (server's label, port, path)
        for server in ours:
            runs.append((server.label, server.port, endpoint.ours))
            floor = f"floor-{server.database}"
            judged = server.route or server.against_floor
            if judged and floor in ports and endpoint.key in FLOOR_READS:
                runs.append((FLOORS[server.database], ports[floor], endpoint.ours))
        runs.insert(1, ("Datasette", ports["datasette"], endpoint.datasette))
        for label, port, path in runs:
            measured = load(port, path, args, endpoint.spread)
            figures[(endpoint.key, label)] = show(f"{endpoint.label}: {label}", measured)
    last = show("bare ASGI (last run)", load(ports["bare"], "/", args)).load
    return Reads(first, last, hello, reads_of, figures)


# ---------------------------------------------------------------------------------------------
# The bulk upload against its floor
# ---------------------------------------------------------------------------------------------


def bulk_items(round_number: int, size: int) -> list[dict[str, Any]]:
    """size evaluations of BULK_PLAN: its first size/4 initiatives, each in every year (half
    of them in NEW_YEARS, so new), all changed: the result names the round, so every row
    that exists is an update whatever was written before."""
    rng = random.Random(SEED + round_number)
    items = []
    for index in range(1, size // len(YEARS) + 1):
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


def clear_new_years(db: Database) -> None:
    """Delete BULK_PLAN's evaluations of NEW_YEARS (untimed), so that the next write creates
    them again. Straight in the database: the bench's setup, not a change the feed logs."""
    engine = create_engine(db.url)
    try:
        with engine.begin() as connection:
            plan_initiatives = select(initiatives.c.id).where(initiatives.c.plan_id == BULK_PLAN)
            connection.execute(
                evaluations.delete().where(
                    evaluations.c.fiscal_year.in_(NEW_YEARS),
                    evaluations.c.initiative_id.in_(plan_initiatives),
                )
            )
    finally:
        engine.dispose()


def memory_kib(pid: int, field_name: str) -> int:
    """A process's VmRSS (now) or VmHWM (its peak) in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field_name}")


def service_upload(db: Database, items: list[dict[str, Any]]) -> tuple[float, float]:
    """POST /api/v1/bulk/evaluations; the seconds from sending the body to the whole answer,
    and the server's peak memory above its size before the request, in MB."""
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {db.token}", "Content-Type": "application/json"}
    url = f"http://{HOST}:{db.port}/api/v1/bulk/evaluations?plan_id={BULK_PLAN}"
    pid = SERVER_PIDS[db.port]
    # Writing 5 to clear_refs sets the peak (VmHWM) back to the present size (Linux).
    Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    idle = memory_kib(pid, "VmRSS")
    with httpx.Client(timeout=600, trust_env=False) as client:
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
    peak = memory_kib(pid, "VmHWM")
    answer = response.json()
    expected = {"created": len(items) // 2, "updated": len(items) // 2, "unchanged": 0}
    if response.status_code != 200 or {name: answer[name] for name in expected} != expected:
        raise RuntimeError(f"bulk upload answered {response.status_code}: {response.text[:500]}")
    return elapsed, (peak - idle) / 1024


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


def check_round(db: Database, round_number: int, size: int) -> None:
    """Every evaluation the round wrote holds its result text (untimed)."""
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
    if written != size:
        raise RuntimeError(f"round {round_number} left {written} of {size} rows on {db.name}")


@dataclass
class Bulk:
    database: str
    size: int
    service: list[float]
    floor: list[float]
    memory_mb: list[float]  # the server's peak above idle, per upload

    @property
    def ratio(self) -> float:
        return statistics.median(self.service) / statistics.median(self.floor)

    @property
    def per_row_ms(self) -> float:
        return statistics.median(self.service) / self.size * 1000


def measure_bulk(db: Database, sqlite_path: Path | None) -> list[Bulk]:
    """For each of BULK_SIZES, BULK_ROUNDS uploads and floor writes in alternation, each
    after NEW_YEARS were cleared and each checked to have written all its rows."""
    results = []
    number = 0
    for size in BULK_SIZES:
        result = Bulk(db.name, size, [], [], [])
        for turn in range(BULK_ROUNDS):
            number += 1
            clear_new_years(db)
            seconds, memory = service_upload(db, bulk_items(number, size))
            result.service.append(seconds)
            result.memory_mb.append(memory)
            check_round(db, number, size)
            number += 1
            clear_new_years(db)
            if sqlite_path is not None:
                result.floor.append(floor_sqlite(sqlite_path, bulk_items(number, size)))
            else:
                result.floor.append(floor_postgres(db.url, bulk_items(number, size)))
            check_round(db, number, size)
            print(
                f"  bulk of {size:,} on {db.name}, round {turn + 1}: service "
                f"{result.service[-1]:.2f} s (peak +{memory:.0f} MB), floor "
                f"{result.floor[-1]:.3f} s",
                flush=True,
            )
        results.append(result)
    return results


def bulk_verdicts(bulks: list[Bulk]) -> list[str]:
    """Per database: the largest upload against its floor, linearity, memory."""
    verdicts = []
    for database in dict.fromkeys(bulk.database for bulk in bulks):
        sizes = [bulk for bulk in bulks if bulk.database == database]
        largest = sizes[-1]
        met = mark(largest.ratio <= BULK_FLOOR_TARGET)
        verdicts.append(
            f"bulk upload of {largest.size:,} on {database}: {largest.ratio:.1f}× the floor "
            f"(target ≤ {BULK_FLOOR_TARGET:g}×, {met})"
        )
        pairs = itertools.pairwise(sizes)
        growth = [after.per_row_ms / before.per_row_ms for before, after in pairs]
        linear = mark(all(step <= BULK_LINEAR_SLACK for step in growth))
        verdicts.append(
            f"bulk on {database}, linear in rows: ms per row "
            + ", ".join(f"{bulk.per_row_ms:.3f} at {bulk.size:,}" for bulk in sizes)
            + f" (each size at most {BULK_LINEAR_SLACK:g}× the per-row time of the one "
            f"before; {linear})"
        )
        peak = max(max(bulk.memory_mb) for bulk in sizes)
        verdicts.append(
            f"bulk on {database}, memory: peak {peak:.0f} MB above idle (target ≤ "
            f"{BULK_MEMORY_MB} MB, {mark(peak <= BULK_MEMORY_MB)})"
        )
    return verdicts


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
    for endpoint in reads.endpoints:
        peer = reads.figures[(endpoint.key, "Datasette")].load
        for server in run.ours:
            figure = reads.figures[(endpoint.key, server.label)].load
            share = figure.rps / ceiling.rps
            versus = figure.rps / peer.rps
            extra = (f"{versus:.2f}×", "—", "—")
            floor = reads.figures.get((endpoint.key, FLOORS[server.database]))
            label = server.label
            if server.against_floor and floor is not None:
                extra = (f"{versus:.2f}×", "vs its floor, below", "—")
                label += " (`ANSWER_CACHE_BYTES=0`; judged against its floor)"
            elif server.route:
                target, verdict = route_verdict(endpoint, figure, share, versus, ceiling)
                extra = (f"{versus:.2f}×", *target)
                verdicts.append(verdict)
                label += " (`ANSWER_CACHE_BYTES=0`; the route itself, judged)"
            elif not server.keeps_rows:
                label += " (`ANSWER_CACHE_BYTES=0 ROW_CACHE_BYTES=0`; for information)"
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
            row(endpoint.label, label, figure, extra)
            if (server.route or server.against_floor) and floor is not None:
                name = f"{FLOORS[server.database]} (`bench/apps/read_floor.py`)"
                row(endpoint.label, name, floor.load, ("",) * 3)
        row(endpoint.label, "Datasette (SQLite)", peer, ("", "", ""))
    return lines, verdicts


def route_verdict(
    endpoint: Endpoint, figure: Load, share: float, versus: float, ceiling: Load
) -> tuple[tuple[str, str], str]:
    """The route itself on SQLite against ROUTE_TARGETS: the table's two target cells and
    the verdict's line."""
    goal = ROUTE_TARGETS[endpoint.key]
    checks = [f"≥ {goal:g}: {mark(share >= goal)}"]
    said = [f"{share:.3f} of the ceiling (target ≥ {goal:g}, {mark(share >= goal)})"]
    if endpoint.key == "list":
        tail = figure.p99_ms / ceiling.p99_ms
        met = mark(tail <= ROUTE_P99_TARGET)
        checks.append(f"p99 ≤ {ROUTE_P99_TARGET:g}×: {met}")
        said.append(f"p99 {tail:.1f}× the ceiling's (target ≤ {ROUTE_P99_TARGET:g}×, {met})")
    against_datasette = "—"
    if endpoint.key in ROUTE_DATASETTE_READS:
        against_datasette = mark(versus >= DATASETTE_TARGET)
        said.append(
            f"{versus:.2f}× Datasette (target ≥ {DATASETTE_TARGET:g}×, {against_datasette})"
        )
    verdict = f"{endpoint.label}, SQLite with {NOT_KEPT} (the route itself): " + "; ".join(said)
    return ("; ".join(checks), against_datasette), verdict


def floor_table(run: Run) -> tuple[list[str], list[str]]:
    """Each database's service without kept answers against its floor, per read (markdown
    lines, empty without floors), and the verdict on PostgreSQL's target (SQLite's share of
    its floor is for information: its targets are against the ceiling)."""
    lines: list[str] = []
    verdicts: list[str] = []
    for server in run.ours:
        if server.keeps_answers:
            continue
        name = FLOORS[server.database]
        for endpoint in run.reads.endpoints:
            floor = run.reads.figures.get((endpoint.key, name))
            if floor is None:
                continue
            ours, bottom = run.reads.figures[(endpoint.key, server.label)].load, floor.load
            share = ours.rps / bottom.rps
            target, met = "for information", "—"
            if server.against_floor:
                target, met = f"≥ {PG_FLOOR_TARGET:g}", mark(share >= PG_FLOOR_TARGET)
                verdicts.append(
                    f"{endpoint.label}, PostgreSQL with {NOT_KEPT}: {share:.3f} of the "
                    f"{name} (target ≥ {PG_FLOOR_TARGET:g}, {met})"
                )
            if not lines:
                lines += [
                    "| endpoint | row | req/s ÷ floor | p50 × floor | p99 × floor | ours req/s "
                    "| floor req/s | floor ÷ ceiling | target | verdict |",
                    "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
                ]
            lines.append(
                f"| {endpoint.label} | {server.label} ÷ {name} | {share:.3f} | "
                f"{ours.p50_ms / bottom.p50_ms:.1f}× | {ours.p99_ms / bottom.p99_ms:.1f}× | "
                f"{fmt_rps(ours.rps)} | {fmt_rps(bottom.rps)} | "
                f"{bottom.rps / run.reads.ceiling.rps:.3f} | {target} | {met} |"
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
                f"with `Accept: {WARMUP_ACCEPT}`, so none of them a measured key"
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
        elif server.keeps_rows:
            notes.append(
                f"{server.label}: {walk.requests:,} requests over {len(ids):,} distinct ids, "
                "every one computed by the route, each initiative's JSON object kept since "
                "the warm-up's first request of its id (app/kept_rows.py)"
            )
        else:
            notes.append(
                f"{server.label}: {walk.requests:,} requests over {len(ids):,} distinct ids, "
                "every one computed by the route, its row read and shaped"
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
        f"`/plan/initiatives/{{id}}.json`, the id spread over the first {ONE_IDS:,} "
        "(`bench/wrk/ids.lua`: each id in a scattered order, the same on every server, each "
        "asked many times); its warm-up asks the same ids with "
        f"`Accept: {WARMUP_ACCEPT}`, which runs the same route on the same rows but is another "
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
        "Targets on SQLite, in the default configuration (issue 8): GET one ≥ 0.15 of the "
        "ceiling, list ≥ 0.08, achievement ≥ 0.15, and each ≥ 4× Datasette. On SQLite with "
        f"{NOT_KEPT}, the route itself (issue 17): GET one ≥ "
        f"{ROUTE_TARGETS['one']:g} of the ceiling, list ≥ {ROUTE_TARGETS['list']:g} and ≥ "
        f"{DATASETTE_TARGET:g}× Datasette with a p99 at most {ROUTE_P99_TARGET:g}× the "
        f"ceiling's, achievement ≥ {ROUTE_TARGETS['stats']:g}. On PostgreSQL, GET one and the "
        f"list with {NOT_KEPT} are judged against their floor (below); PostgreSQL with kept "
        "answers is beside, for information."
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
        "`STATS_CACHE_SIZE`, which is separate, and each initiative's JSON object from the "
        "rows kept under its id and version, `ROW_CACHE_BYTES`, `app/kept_rows.py`: the "
        "page's statement reads the rows' ids and versions, and the objects of rows read "
        "before are not shaped again). These are what a reader with a token, a new filter or "
        f"sort, or another page gets. The rows *{NOTHING_KEPT}* are a third server with "
        "`ROW_CACHE_BYTES=0` as well, for information: every row is read whole and shaped, "
        "as on the first read of a row after it was written."
    )
    add("")
    table, verdicts = reads_table(run)
    lines.extend(table)
    add("")
    table, floor_verdicts = floor_table(run)
    verdicts += floor_verdicts
    if table:
        add(
            "**Against the floors.** A floor (`bench/apps/read_floor.py`) runs the service's "
            "own statements for GET one and the list of 50 (found by running "
            "`read_initiative` and `read_initiatives` of `app/initiatives/service.py` once, "
            "keeping no rows, against a reader that notes them, compiled for the database at "
            "startup): the initiative with its latest evaluation, and the page with its count, "
            "whole rows, behind a bare ASGI app that answers them as JSON arrays; checked to "
            "give the service's rows, page order and total. So a floor is what reading the "
            "answer's data and sending it costs with no framework at all; the service with its "
            "rows kept reads only their ids and versions, so it can come closer to its floor "
            "than the statements alone would allow, and the rows *nothing kept* show it "
            "without that. On PostgreSQL through psycopg's async connections (as "
            "many as the service's pool, 10, opened at startup, handed out by a queue), the "
            "page and its count in one pipeline as the service's reader sends them; on SQLite "
            "through one sqlite3 connection on the event loop, as the service's reader runs a "
            "cheap statement. Each is loaded on the service's URLs with the same wrk scripts, "
            f"right after *ours on <database>, {NOT_KEPT}*. Target (issue 17): on PostgreSQL "
            f"that row ≥ {PG_FLOOR_TARGET:g} of the floor's req/s. On SQLite the targets are "
            "against the ceiling (above); the floor's own share of the ceiling says how much "
            "of it any service running these statements could reach."
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
    add("### Bulk upload of evaluations")
    add("")
    add(
        f"`POST /api/v1/bulk/evaluations?plan_id={BULK_PLAN}` with a JSON body of "
        + ", ".join(f"{size:,}" for size in BULK_SIZES)
        + f" rows (plan {BULK_PLAN}'s first initiatives × {len(YEARS)} years: code, fiscal "
        f"year, status, result). Before each write, untimed, the plan's evaluations of "
        f"{' and '.join(str(year) for year in NEW_YEARS)} are deleted straight in the "
        "database, so half the rows are new and half update existing ones (every one "
        "changes: the result names the round). Timed from sending to the whole answer, "
        "against the **floor**: the same rows through the bare driver (sqlite3 with the "
        "service's pragmas; psycopg), one `executemany` of INSERT … SELECT id FROM "
        "initiatives WHERE plan_id AND code … ON CONFLICT (initiative_id, fiscal_year) DO "
        "UPDATE, in one transaction, on the same database (the derived search text is "
        f"computed before the clock starts). {BULK_ROUNDS} of each size, in alternation "
        "(each with its own values); medians. The service also validates each row, logs each "
        "change in the change feed and moves the initiatives' versions on. Memory: the "
        "server's peak resident size during the upload (VmHWM, reset before it through "
        "/proc/PID/clear_refs) less its size just before. Targets (issue 17): "
        f"{BULK_SIZES[-1]:,} rows within {BULK_FLOOR_TARGET:g}× the floor on each database; "
        f"time per row not growing with the rows (each size at most {BULK_LINEAR_SLACK:g}× "
        f"the per-row time of the size before); peak memory ≤ {BULK_MEMORY_MB} MB above idle."
    )
    add("")
    add(
        "| database | rows | service s | floor s | service ÷ floor | service ms per row "
        "| peak MB above idle | service runs | floor runs |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for bulk in run.bulks:
        add(
            f"| {bulk.database} | {bulk.size:,} | {statistics.median(bulk.service):.2f} | "
            f"{statistics.median(bulk.floor):.3f} | {bulk.ratio:.1f}× | "
            f"{bulk.per_row_ms:.3f} | {max(bulk.memory_mb):.0f} | "
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
    for verdict in bulk_verdicts(run.bulks):
        add(f"- {verdict}")
    errors = [key for key, measured in run.reads.figures.items() if measured.load.errors]
    if errors:
        add(f"- **wrk reported errors** in: {', '.join(' / '.join(key) for key in errors)}")
    add("")
    add("### Reproduce")
    add("")
    add(
        "On a fresh clone, `bench/run` (about 6 minutes; under 10). It builds `.venv` with "
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
            # And with no initiative's JSON object kept either: every row shaped anew.
            nothing_kept = {**not_kept, "ROW_CACHE_BYTES": "0"}
            port = stack.enter_context(
                serving(
                    f"ours-{db.name}-nothing-kept", "app.main:app", folder, "/readyz", nothing_kept
                )
            )
            ours.append(Ours(f"ours on {db.name}, {NOTHING_KEPT}", db.name, port, False, False))
            ports[f"floor-{db.name}"] = stack.enter_context(
                serving(
                    f"floor-{db.name}",
                    "bench.apps.read_floor:app",
                    folder,
                    "/api/v1/initiatives/1",
                    {"BENCH_FLOOR_DATABASE_URL": db.url},
                )
            )
        print("reads:", flush=True)
        floor_ports = {db.name: ports[f"floor-{db.name}"] for db in databases}
        reads_of = endpoints(ours, ports["datasette"], "plan", floor_ports)
        reads = measure_reads(args, ports, ours, reads_of)
        print("bulk upload:", flush=True)
        bulks = [
            bulk
            for db in databases
            for bulk in measure_bulk(db, sqlite_path if db.name == "sqlite" else None)
        ]
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
