"""An app that is dropped is freed: nothing module-level keeps it (FastAPI caches endpoint
functions, so an endpoint that closes over its app would keep every app alive; the tests
build hundreds, and freeing them all at exit once cost some 40 s after pytest's summary)."""

import gc
import weakref
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


def _served_and_dropped(path: Path) -> "weakref.ref[object]":
    application = create_app(Settings(database_url=f"sqlite:///{path}"))
    with TestClient(application) as client:
        assert client.get("/docs").status_code == 200  # the docs endpoints ran
        assert client.get("/openapi.json").status_code == 200
    application.state.engine.dispose()
    return weakref.ref(application)


def test_a_dropped_app_is_freed(tmp_path: Path) -> None:
    # The first app a process starts is frozen out of the collector on purpose (app/main.py,
    # lifespan): only the ones after it can be freed.
    _served_and_dropped(tmp_path / "first.db")
    later = [_served_and_dropped(tmp_path / f"app{number}.db") for number in range(2)]
    gc.collect()
    assert [ref() for ref in later] == [None, None]


@pytest.mark.parametrize("setting", ["off", "on"])
def test_fastapi_asks_for_opentelemetry_only_when_it_is_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """Off (the default), no request looks for an OpenTelemetry SDK's providers."""
    from opentelemetry import trace

    asked: list[int] = []
    provider = trace.get_tracer_provider()

    def counting_provider() -> trace.TracerProvider:
        asked.append(1)
        return provider

    monkeypatch.setattr(trace, "get_tracer_provider", counting_provider)
    application = create_app(Settings(database_url=database_url, opentelemetry=setting))
    with TestClient(application) as client:
        assert client.get("/api/v1/plans/1").status_code == 200
    application.state.engine.dispose()
    assert bool(asked) is (setting == "on")
