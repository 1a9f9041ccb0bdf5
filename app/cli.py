"""Command line: `python -m app migrate | seed | import | ingest | serve | tokens ...`."""

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app import migrate
from app.auth.tokens import Role, TokenNameTaken, create_token, list_tokens, revoke_token
from app.bundles.load import import_bundle
from app.config import Settings, get_settings
from app.db import make_engine
from app.errors import AppError
from app.ingest import MissingFact, Outside, ingest, outside_facts, read_report
from app.models import plans, utcnow
from app.seed import KANAZAWA, PlanFileError, seed

DEV_TOKEN_NAME = "dev-admin"


def _migrate(settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
    print(f"database migrated to {migrate.head_revision()}")


def plan_file(settings: Settings, given: Path | None = None) -> Path | None:
    """The plan file to load: the one named on the command line, else SEED_FILE (`none`:
    none), else Kanazawa's."""
    if given is not None:
        return given
    if settings.seed_file.strip().lower() == "none":
        return None
    return Path(settings.seed_file) if settings.seed_file.strip() else KANAZAWA


def _seed(settings: Settings, path: Path | None) -> int:
    if path is None:
        print("SEED_FILE=none: no plan file to load")
        return 0
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            result = seed(session, path)
    except PlanFileError as error:
        print(f"error: {error}", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    added = sum(result.created.values())
    kept = sum(result.existing.values())
    print(f"seed {path.name}: {added} rows added, {kept} already present")
    return 0


def _import(settings: Settings, path: Path, replace: bool) -> int:
    try:
        content = path.read_bytes()
    except OSError as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return 1
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            plan_id, result = import_bundle(
                session, content, source=str(path), actor="import", replace=replace
            )
    except PlanFileError as error:
        print(f"error: {error}", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except AppError as error:  # not a bundle; the slug taken
        print(f"error: {path}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    added = sum(result.created.values())
    print(f"import {path.name}: plan {plan_id}, {added} rows added")
    return 0


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.report
    given = Outside(args.municipality_code, args.municipality_name, args.license, args.license_url)
    default = Outside(license=settings.default_license, license_url=settings.default_license_url)
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            outside = outside_facts(session, args.plan, given, default)
            plan_file = read_report(path, args.plan, outside)
            result = ingest(session, plan_file, dry_run=args.dry_run)
    except PlanFileError as error:
        print(f"error: {error}", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except MissingFact as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for line in result.lines:
        print(f"  {line}")
    added, changed = sum(result.created.values()), sum(result.changed.values())
    same = sum(result.existing.values()) - changed
    verb = "would add" if args.dry_run else "added"
    print(
        f"ingest {path.name} into plan {args.plan}: {added} rows {verb}, {changed} changed,"
        f" {same} already as the report says"
        + (" (dry run: nothing written)" if args.dry_run else "")
    )
    return 0


def _metrics_directory() -> Path | None:
    """Give the workers a fresh directory to add their metrics up in (app/web/monitoring.py);
    return it when it is ours to remove once serving ends.

    Set before any worker imports prometheus-client; one given by the operator is emptied
    of an earlier run's files, as prometheus-client asks, and kept."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    made = tempfile.mkdtemp(prefix="plan-progress-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return Path(made)


def _serve(settings: Settings, workers: int, seed_path: Path | None) -> int:
    made = _metrics_directory()
    try:
        return _migrate_seed_and_serve(settings, workers, seed_path)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _migrate_seed_and_serve(settings: Settings, workers: int, seed_path: Path | None) -> int:
    # Migrate (and seed) once, here, before any worker starts: workers never race to migrate.
    _migrate(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            empty = not connection.scalar(select(func.count()).select_from(plans))
    finally:
        engine.dispose()
    if empty:
        if _seed(settings, seed_path):
            return 1  # the file's problems are printed; nothing was loaded or served
        if "DATABASE_URL" not in os.environ:
            _print_dev_token(settings)
    # X-Forwarded-* are the app's to believe or not (FORWARDED_ALLOW_IPS, app/web/edge.py).
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=workers,
        proxy_headers=False,
        access_log=False,  # the service writes its own line per request (app/web/monitoring.py)
        # On SIGTERM, stop taking requests and let those in flight finish, this long at most.
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    return 0


def _print_dev_token(settings: Settings) -> None:
    """Give a newcomer on the default local database a token for a first write, once."""
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            secret = create_token(session, name=DEV_TOKEN_NAME, role=Role.admin)
    except TokenNameTaken:
        return
    finally:
        engine.dispose()
    print(
        "\nA development admin token was created for this local database (it is shown only"
        f" once; revoke it with `python -m app tokens revoke {DEV_TOKEN_NAME}`):\n"
        f"\n    export TOKEN={secret}\n"
    )


def parse_expiry(value: str) -> datetime:
    """Parse --expires: a duration such as 30d or 12h, or an ISO 8601 date or date-time, in
    the future (a token that expires at once would be printed only to be refused)."""
    if match := re.fullmatch(r"(\d+)([dh])", value.strip()):
        amount, unit = int(match[1]), match[2]
        moment = utcnow() + (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a duration (30d, 12h) or an ISO 8601 date"
            ) from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment <= utcnow():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not in the future: a token expiring then could never be used"
        )
    return moment


def token_name(value: str) -> str:
    """Parse --name: the name the change log shows for the token's writes."""
    name = value.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise argparse.ArgumentTypeError("a token name is 1-100 printable characters")
    return name


def _tokens(settings: Settings, args: argparse.Namespace) -> int:
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            if args.action == "create":
                try:
                    secret = create_token(
                        session, name=args.name, role=Role(args.role), expires_at=args.expires
                    )
                except TokenNameTaken as error:
                    print(f"error: {error}", file=sys.stderr)
                    return 1
                expiry = f", expires {args.expires.isoformat()}" if args.expires else ""
                print(f"token {args.name!r} ({args.role}{expiry}); it is shown only this once:")
                print(secret)
            elif args.action == "list":
                now = utcnow()
                for token in list_tokens(session):
                    expires = token.expires_at
                    if expires is not None and expires.tzinfo is None:
                        expires = expires.replace(tzinfo=UTC)
                    state = (
                        "revoked"
                        if token.revoked_at
                        else "expired"
                        if expires is not None and expires <= now
                        else "active"
                    )
                    until = expires.isoformat() if expires else "never"
                    print(f"{token.name}\t{token.role}\t{state}\texpires {until}")
            elif args.action == "revoke":
                if not revoke_token(session, name=args.name):
                    print(f"error: no active token named {args.name!r}", file=sys.stderr)
                    return 1
                print(f"token {args.name!r} revoked")
    finally:
        engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the database to the latest migration")
    seed_command = commands.add_parser(
        "seed", help="load a plan file (adds only what is missing; see seed/README.md)"
    )
    seed_command.add_argument(
        "--file", type=Path, help="the plan file (default: SEED_FILE, else Kanazawa's plan)"
    )
    import_command = commands.add_parser(
        "import",
        help="load a plan's bundle (/export/plans/{id}.zip): to move a plan, or restore one",
    )
    import_command.add_argument("bundle", type=Path, help="the .zip the export gave")
    import_command.add_argument(
        "--replace", action="store_true", help="delete the plan with the same slug first"
    )
    ingest_command = commands.add_parser(
        "ingest",
        help="read a progress report in the city's format (seed/README.md) into a plan:"
        " shows what it adds or changes, then applies it",
    )
    ingest_command.add_argument("report", type=Path, help="the report as UTF-8 text")
    ingest_command.add_argument("--plan", required=True, type=str, help="the plan's slug")
    ingest_command.add_argument(
        "--dry-run", action="store_true", help="show what would change and write nothing"
    )
    ingest_command.add_argument(
        "--municipality-code", help="全国地方公共団体コード, for a new plan (the report has none)"
    )
    ingest_command.add_argument(
        "--municipality-name", help="for a new plan (default: the plan title's city, 金沢市)"
    )
    ingest_command.add_argument(
        "--license", help="SPDX id, for a new plan (default: DEFAULT_LICENSE)"
    )
    ingest_command.add_argument("--license-url", help="the licence's URL, with --license")
    serve = commands.add_parser("serve", help="migrate, seed an empty database, then serve")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--no-seed", action="store_true", help="load no plan into an empty database")
    tokens = commands.add_parser("tokens", help="manage API tokens for writes")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    create = token_actions.add_parser("create", help="make a token and print it once")
    create.add_argument(
        "--name", required=True, type=token_name, help="who holds it (shown in the change log)"
    )
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--expires", type=parse_expiry, default=None, help="30d, 12h, or an ISO 8601 date"
    )
    token_actions.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name")
    args = parser.parse_args(argv)

    settings = get_settings()
    try:
        if args.command == "migrate":
            _migrate(settings)
        elif args.command == "seed":
            return _seed(settings, plan_file(settings, args.file))
        elif args.command == "import":
            return _import(settings, args.bundle, args.replace)
        elif args.command == "ingest":
            return _ingest(settings, args)
        elif args.command == "serve":
            seed_path = None if args.no_seed else plan_file(settings)
            return _serve(settings, args.workers, seed_path)
        elif args.command == "tokens":
            return _tokens(settings, args)
    except OperationalError as error:
        print(f"error: {unreachable(settings.database_url, error)}", file=sys.stderr)
        return 1
    return 0


def unreachable(database_url: str, error: OperationalError) -> str:
    """One line for a database the command could not use, saying what to do about it."""
    url = make_url(database_url)
    reason = str(error.orig or error).strip().splitlines()[0]
    if url.get_backend_name() == "postgresql":
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        if "does not exist" in reason and f'"{url.database}"' in reason:
            user = f" -U {url.username}" if url.username else ""
            return (
                f'the database "{url.database}" does not exist on {where}: create it first,'
                f" e.g. createdb -h {url.host or 'localhost'} -p {url.port or 5432}{user}"
                f" {url.database}"
            )
        return f"cannot use the PostgreSQL database {url.database!r} on {where}: {reason}"
    return f"cannot use the database {url.database!r}: {reason}"


if __name__ == "__main__":
    sys.exit(main())
