"""What one request costs inside the process, the network left out: the kept answer of a GET
of one initiative, and the same GET run by the route (answers not kept).

Run: `.venv/bin/python bench/in_process.py` (half a minute; SQLite in a temporary folder,
seeded with Kanazawa's plan). Each request goes straight to the ASGI app, as uvicorn would
hand it over; the figure is the best of 7 batches of 1,000, in microseconds, so that other
work on the machine moves it as little as possible. `--profile` prints cProfile's costliest
functions for each instead. The figures go to bench/README.md by hand.
"""

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/initiatives/3"


def scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def measure(application: Any, label: str, profile: bool) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def request() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await application(scope(PATH), receive, send)
        assert sent[0]["status"] == 200, sent

    async with application.router.lifespan_context(application):
        for _ in range(300):
            await request()
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(3000):
                await request()
            profiler.disable()
            print(f"\n## {label}")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            return
        batches = []
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(1000):
                await request()
            batches.append((time.perf_counter() - started) / 1000 * 1e6)
        batches.sort()
        print(f"{label}: {batches[0]:.0f} µs (median of the batches {batches[3]:.0f} µs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print cProfile's figures")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/in-process.db"
        env = {**os.environ, "DATABASE_URL": url}
        for command in ("migrate", "seed"):
            subprocess.run(
                [sys.executable, "-m", "app", command],
                env=env, cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
        sys.path.insert(0, str(ROOT))
        from app.config import Settings
        from app.main import create_app

        # The access line of every request goes to stderr, as in production: here, nowhere.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        for label, kept in (("kept answer", 64 << 20), ("route (answers not kept)", 0)):
            application = create_app(Settings(database_url=url, answer_cache_bytes=kept))
            asyncio.run(measure(application, f"GET {PATH}, {label}", options.profile))
            application.state.engine.dispose()


if __name__ == "__main__":
    main()
