"""The optional per-token write limit (WRITE_RATE_LIMIT): 429 with Retry-After, nothing
written, other tokens and reads untouched."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.models import changes
from app.web.ratelimit import WriteRateLimit


def test_bucket_refills_at_the_rate() -> None:
    limit = WriteRateLimit(2, 10)  # 2 writes per 10 s: one more every 5 s
    assert [limit.wait("a", now=0.0) for _ in range(3)] == [0, 0, 5]
    assert limit.wait("b", now=0.0) == 0  # every token has its own bucket
    assert limit.wait("a", now=4.0) == 1
    assert limit.wait("a", now=5.0) == 0
    assert limit.wait("a", now=100.0) == 0  # a long pause refills up to the burst, no more
    assert limit.wait("a", now=100.0) == 0
    assert limit.wait("a", now=100.0) == 5


@pytest.mark.parametrize("setting", ["fast", "10", "0/60", "10/0", "-1/5"])
def test_a_malformed_setting_is_refused(setting: str) -> None:
    with pytest.raises(ValueError):
        WriteRateLimit.parse(setting)


def test_no_setting_no_limit() -> None:
    assert WriteRateLimit.parse("") is None


@pytest.fixture
def limited(fresh_url: str) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    application = create_app(Settings(database_url=fresh_url, write_rate_limit="2/3600"))
    with Session(application.state.engine) as session:
        first = create_token(session, name="nightly-import", role=Role.editor)
        second = create_token(session, name="other", role=Role.editor)
    with TestClient(application) as client:
        yield (
            client,
            {"Authorization": f"Bearer {first}"},
            {"Authorization": f"Bearer {second}"},
        )
    application.state.engine.dispose()


def test_writes_beyond_the_limit_get_429(
    limited: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, token, other = limited
    engine = client.app.state.engine  # type: ignore[attr-defined]
    for title in ("一", "二"):
        response = client.patch("/api/v1/initiatives/1", json={"title": title}, headers=token)
        assert response.status_code == 200, response.text
    with engine.connect() as connection:
        logged = connection.scalar(select(func.count()).select_from(changes))

    refused = client.patch("/api/v1/initiatives/1", json={"title": "三"}, headers=token)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert "nightly-import" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 1800
    assert refused.headers["cache-control"] == "no-store"

    assert client.get("/api/v1/initiatives/1").json()["title"] == "二"
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(changes)) == logged
    # Another token writes on; an unauthenticated write is still a 401, not a 429.
    response = client.patch("/api/v1/initiatives/1", json={"title": "四"}, headers=other)
    assert response.status_code == 200, response.text
    assert client.patch("/api/v1/initiatives/1", json={"title": "五"}).status_code == 401
