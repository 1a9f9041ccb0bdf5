"""Where the files the service runs on are: the migrations and the seed.

In a checkout they sit beside `app/` (`migrations/`, `seed/`, `alembic.ini`), where people
look for them. An installed wheel has no checkout: it carries the migrations and the seed
inside the package, as `app/_data/` (setup.py), and no alembic.ini (app/migrate.py then
configures Alembic in code). So the service runs from any directory, as the container does.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_BUNDLED = PACKAGE / "_data"
_CHECKOUT = PACKAGE.parent


def _find(name: str) -> Path:
    bundled = _BUNDLED / name
    return bundled if bundled.exists() else _CHECKOUT / name


MIGRATIONS = _find("migrations")
SEED = _find("seed")
# Only in a checkout: the `alembic` command's configuration (logging, file names).
ALEMBIC_INI: Path | None = _CHECKOUT / "alembic.ini" if not _BUNDLED.exists() else None
