"""Command line: `python -m app migrate | seed | serve`."""

import argparse
import sys
from collections.abc import Sequence

import uvicorn
from sqlalchemy import func, select
from sqlmodel import Session

from app import migrate
from app.config import Settings, get_settings
from app.db import make_engine
from app.models import plans
from app.seed import KANAZAWA, seed


def _migrate(settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
    print(f"database migrated to {migrate.head_revision()}")


def _seed(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            result = seed(session, KANAZAWA)
    finally:
        engine.dispose()
    added = sum(result.created.values())
    kept = sum(result.existing.values())
    print(f"seed {KANAZAWA.name}: {added} rows added, {kept} already present")


def _serve(settings: Settings, workers: int) -> None:
    _migrate(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            empty = not connection.scalar(select(func.count()).select_from(plans))
    finally:
        engine.dispose()
    if empty:
        _seed(settings)
    uvicorn.run("app.main:app", host=settings.host, port=settings.port, workers=workers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the database to the latest migration")
    commands.add_parser("seed", help="load the Kanazawa plan (adds only what is missing)")
    serve = commands.add_parser("serve", help="migrate, seed an empty database, then serve")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.command == "migrate":
        _migrate(settings)
    elif args.command == "seed":
        _seed(settings)
    elif args.command == "serve":
        _serve(settings, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
