"""Datasette as an ASGI app, so that bench/run serves it with the same uvicorn command as ours.

`datasette serve` runs uvicorn itself with its access log on; building the app here lets every
server share one command line (one worker, `--no-access-log`, `--log-level warning`, uvicorn's
default loop and HTTP implementations). The database is opened immutable (`datasette -i`):
read-only, no locking, table counts computed once at the first request.

Environment: BENCH_DATASETTE_DB, the SQLite file to serve (its stem names it in URLs).
"""

import os

from datasette.app import Datasette

SETTINGS = {
    # The GROUP BY must never be cut short by the default 1 s limit.
    "sql_time_limit_ms": 10_000,
    # Our list computes no facet suggestions; Datasette should not spend time on them either.
    "suggest_facets": False,
}

datasette = Datasette(immutables=[os.environ["BENCH_DATASETTE_DB"]], settings=SETTINGS)
app = datasette.app()
