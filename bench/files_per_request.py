"""How many of the service's own modules one request runs through, for four requests a
review walked: GET one initiative, PUT an evaluation, POST a bulk CSV, GET the achievement.

Run: `.venv/bin/python bench/files_per_request.py` (a minute; SQLite in a temporary folder).
Each request is made once to warm up, then once with a profiler that notes the file of every
Python function called, in every thread; the count is of files under app/ (the framework and
the drivers are not counted). The figures go to bench/README.md by hand.
"""

import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app")

REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET one initiative", "GET", "/api/v1/initiatives/3", {}),
    (
        "PUT an evaluation",
        "PUT",
        "/api/v1/initiatives/3/evaluations/R8",
        {"json": {"status": "achieved", "result": "計測"}},
    ),
    (
        "POST a bulk CSV",
        "POST",
        "/api/v1/bulk/evaluations?plan_id=1",
        {
            "content": "取組番号,年度,評価,実績\r\nR6-7,令和8年度,達成,計測\r\n".encode(),
            "headers": {"Content-Type": "text/csv"},
        },
    ),
    ("GET the achievement", "GET", "/api/v1/stats/achievement?plan_id=1&fiscal_year=R6", {}),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/walk.db"
        env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
        for command in ("migrate", "seed"):
            subprocess.run([sys.executable, "-m", "app", command], env=env, cwd=ROOT, check=True)
        sys.path.insert(0, str(ROOT))
        import asyncio

        import httpx
        from sqlmodel import Session

        from app.auth.tokens import Role, create_token
        from app.config import Settings
        from app.main import create_app

        settings = Settings(database_url=url, answer_cache_bytes=0, stats_cache_size=0)
        application = create_app(settings)
        with Session(application.state.engine) as session:
            token = create_token(session, name="walker", role=Role.editor)
        auth = {"Authorization": f"Bearer {token}"}
        seen: set[str] = set()

        def note(frame: FrameType, event: str, _arg: Any) -> None:
            if event == "call" and frame.f_code.co_filename.startswith(APP):
                seen.add(frame.f_code.co_filename)

        async def walk() -> None:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for name, method, path, options in REQUESTS:
                    extra = options.pop("headers", {})
                    headers = {**auth, **extra} if method != "GET" else {}
                    await client.request(method, path, headers=headers, **options)  # warm up
                    seen.clear()
                    answer = await client.request(method, path, headers=headers, **options)
                    files = sorted(str(Path(f).relative_to(ROOT)) for f in seen)
                    print(f"{name}: {answer.status_code}, {len(files)} files: {', '.join(files)}")

        # Every thread started from here on (the worker threads) is profiled too.
        threading.setprofile(note)  # type: ignore[arg-type]
        sys.setprofile(note)  # type: ignore[arg-type]
        try:
            asyncio.run(walk())
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
