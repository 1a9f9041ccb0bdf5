"""The fast read path (app/reads.py) and the kept answers (app/web/caching.py) change nothing a
client can see: same JSON as the response models, never a stale answer after a write."""

import asyncio
import gzip
import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlmodel import Session

from app.config import Settings
from app.initiatives import service
from app.initiatives.schemas import InitiativePublic
from app.main import create_app
from app.web import caching
from app.web.caching import AnswerCacheMiddleware, accepts_gzip
from tests.conftest import Api, etag


def _model_json(api: Api, initiative_id: int) -> bytes:
    """The initiative as the pydantic response model writes it (the write routes' path)."""
    with Session(api.engine) as session:
        model = service.get_initiative(session=session, initiative_id=initiative_id)
    assert isinstance(model, InitiativePublic)
    return model.model_dump_json().encode()


def test_projection_writes_what_the_model_writes(api: Api) -> None:
    # Give the rows every kind of value: a fractional and a whole-second timestamp, a
    # numeric target with a value, an evaluation with an actual value, one without status.
    first = api.client.get("/api/v1/initiatives", params={"limit": 500}).json()["items"]
    target_id = first[0]["id"]
    patch = {"numeric_target": True, "target_value": 12.5, "target_unit": "件"}
    response = api.client.patch(f"/api/v1/initiatives/{target_id}", json=patch, headers=api.editor)
    assert response.status_code == 200, response.text
    put = {"status": "unconfirmed", "actual_value": 3.0, "result": "途中"}
    response = api.client.put(
        f"/api/v1/initiatives/{target_id}/evaluations/R8", json=put, headers=api.editor
    )
    assert response.status_code == 201, response.text
    with api.engine.begin() as connection:
        connection.execute(
            text("UPDATE initiatives SET updated_at = :at, version = version + 1 WHERE id = :id"),
            {"at": "2026-04-01 00:00:00.000000", "id": first[1]["id"]},
        )
        connection.execute(text("UPDATE data_version SET version = version + 1"))

    items = api.client.get("/api/v1/initiatives", params={"limit": 500}).json()["items"]
    assert len(items) == len(first) > 10
    for item in items:
        written = _model_json(api, item["id"])
        expected = json.loads(written)
        assert item == expected
        assert json.dumps(item) == json.dumps(expected)  # the same keys in the same order
        one = api.client.get(f"/api/v1/initiatives/{item['id']}")
        assert one.content == written  # byte for byte
        assert one.headers["etag"] == etag(item["id"], expected["version"])
    changed = next(item for item in items if item["id"] == target_id)
    assert changed["numeric_target"] is True
    assert changed["target_value"] == 12.5
    assert changed["latest_evaluation"]["actual_value"] == 3.0
    assert changed["latest_evaluation"]["fiscal_year"] == 2026
    whole = next(item for item in items if item["id"] == first[1]["id"])
    assert whole["updated_at"] == "2026-04-01T00:00:00Z"


@pytest.mark.only_on("postgresql")
def test_timestamps_are_written_in_utc_whatever_the_database_s_time_zone(fresh_url: str) -> None:
    """PostgreSQL hands timestamps back in the session's time zone: a database set to Tokyo
    time still answers UTC, as the response models write it (a UTC one goes out as read)."""
    name = make_url(fresh_url).database
    admin = create_engine(fresh_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"ALTER DATABASE \"{name}\" SET TimeZone = 'Asia/Tokyo'"))
    admin.dispose()
    application = create_app(Settings(database_url=fresh_url, answer_cache_bytes=0))
    with TestClient(application) as client:
        one = client.get("/api/v1/initiatives/1").json()
        listed = client.get("/api/v1/initiatives", params={"limit": 1}).json()["items"][0]
    with Session(application.state.engine) as session:
        model = service.get_initiative(session=session, initiative_id=listed["id"])
        expected = json.loads(model.model_dump_json())
    application.state.engine.dispose()
    assert listed == expected
    assert one["created_at"].endswith("Z") and one["updated_at"].endswith("Z")
    assert listed["created_at"] == expected["created_at"]


def test_a_kept_answer_is_the_answer(api: Api) -> None:
    path = "/api/v1/initiatives?limit=5&sort=-code"
    first = api.client.get(path)
    again = api.client.get(path)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    made_per_request = {"x-request-id"}
    assert {k: v for k, v in again.headers.items() if k not in made_per_request} == {
        k: v for k, v in first.headers.items() if k not in made_per_request
    }
    assert again.headers["x-content-type-options"] == "nosniff"
    assert again.headers["link"].startswith("<http://testserver/api/v1/initiatives?")


def test_a_write_is_seen_at_once(api: Api) -> None:
    initiative = api.client.get("/api/v1/initiatives/1").json()
    listed = api.client.get("/api/v1/initiatives?limit=1").json()["items"][0]
    stats = api.client.get("/api/v1/stats/summary").json()
    response = api.client.patch(
        "/api/v1/initiatives/1", json={"title": "新しい題名"}, headers=api.editor
    )
    assert response.status_code == 200, response.text

    after = api.client.get("/api/v1/initiatives/1")
    assert after.json()["title"] == "新しい題名"
    assert after.json()["version"] == initiative["version"] + 1
    assert after.headers["etag"] == etag(1, initiative["version"] + 1)
    if listed["id"] == 1:
        assert api.client.get("/api/v1/initiatives?limit=1").json()["items"][0]["title"] == (
            "新しい題名"
        )
    assert api.client.get("/api/v1/stats/summary").json() == stats  # same counts, fresh answer


def test_cross_origin_headers_on_a_kept_answer(api: Api) -> None:
    api.client.get("/api/v1/plans")
    response = api.client.get("/api/v1/plans", headers={"Origin": "https://example.org"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    plain = api.client.get("/api/v1/plans")
    assert "access-control-allow-origin" not in plain.headers
    assert plain.headers["vary"].count("Origin") == 1


def test_conditional_and_authorized_reads_reach_the_route(api: Api) -> None:
    first = api.client.get("/api/v1/initiatives/1")
    conditional = api.client.get(
        "/api/v1/initiatives/1", headers={"If-None-Match": first.headers["etag"]}
    )
    assert conditional.status_code == 304
    authorized = api.client.get("/api/v1/plans", headers=api.editor)
    assert authorized.status_code == 200
    assert authorized.headers["cache-control"] == "no-store"


def test_errors_are_not_kept(api: Api) -> None:
    assert api.client.get("/api/v1/initiatives/999999").status_code == 404
    store = _store(api.client)
    assert store.weight == 0
    assert api.client.get("/api/v1/initiatives/1").status_code == 200
    assert store.weight > 0


def _store(client: TestClient) -> Any:
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, AnswerCacheMiddleware):
        layer = layer.app
    return layer.store


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/initiatives?limit=3",
        "/api/v1/plans",
        "/api/v1/policies?plan_id=1",
        "/api/v1/measures?limit=5",
        "/api/v1/evaluations?fiscal_year=R6&limit=5",
        "/api/v1/reports",
        "/api/v1/search?q=" + quote("窓口"),
        "/api/v1/changes?since=0&limit=5",
    ],
)
def test_a_list_s_etag_is_the_same_whether_answers_are_kept_or_not(api: Api, url: str) -> None:
    """Kept, the data version is read before the route (AnswerCacheMiddleware); not kept, in
    the same round trip as the route's statements (read_with_cache_headers): the same tag,
    the same 304, and a new tag after a write."""
    plain = create_app(
        Settings(database_url=str(api.engine.url.render_as_string(False)), answer_cache_bytes=0)
    )
    with TestClient(plain) as client:
        kept, not_kept = api.client.get(url), client.get(url)
        assert not_kept.status_code == 200
        assert not_kept.json() == kept.json()
        tag = kept.headers["etag"]
        assert not_kept.headers["etag"] == tag
        conditional = client.get(url, headers={"If-None-Match": tag})
        assert conditional.status_code == 304
        assert conditional.headers["etag"] == tag
        assert conditional.headers["cache-control"] == not_kept.headers["cache-control"]

        written = client.patch(
            "/api/v1/initiatives/1", json={"title": "新しい題名"}, headers=api.editor
        )
        assert written.status_code == 200, written.text
        after = client.get(url)
        assert after.headers["etag"] not in (tag, "")
        assert after.headers["etag"] == api.client.get(url).headers["etag"]
        assert client.get(url, headers={"If-None-Match": tag}).status_code == 200
    plain.state.engine.dispose()


@pytest.mark.parametrize("max_bytes", [0, 3000])
def test_the_cache_stays_within_its_bound(fresh_url: str, max_bytes: int) -> None:
    application = create_app(Settings(database_url=fresh_url, answer_cache_bytes=max_bytes))
    with TestClient(application) as client:
        for initiative_id in range(1, 15):
            assert client.get(f"/api/v1/initiatives/{initiative_id}").status_code == 200
        store = _store(client)
        assert store.weight <= max_bytes
        assert (store.weight > 0) == (max_bytes > 0)
    application.state.engine.dispose()


@pytest.mark.parametrize("in_thread", [False, True], ids=["on-the-loop", "in-a-thread"])
def test_a_large_kept_answer_goes_compressed_to_clients_that_accept_gzip(
    api: Api, monkeypatch: pytest.MonkeyPatch, in_thread: bool
) -> None:
    if in_thread:  # the seeded answers are smaller than the size compressed in a thread
        monkeypatch.setattr(caching, "GZIP_THREAD_MIN_BYTES", 0)
    path = "/api/v1/initiatives?limit=500"
    first = api.client.get(path, headers={"Accept-Encoding": "identity"})
    assert first.status_code == 200
    assert "content-encoding" not in first.headers  # computed now: sent as the route wrote it
    assert "Accept-Encoding" in first.headers["vary"]
    assert int(first.headers["content-length"]) == len(first.content) > 4096

    packed = api.client.get(path, headers={"Accept-Encoding": "deflate, gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(first.content) // 3
    assert packed.content == first.content  # httpx decodes it
    for name in ("etag", "vary", "cache-control", "content-type", "x-content-type-options"):
        assert packed.headers[name] == first.headers[name]

    for refused in ("identity", "gzip;q=0", "br", "*;q=0"):
        plain = api.client.get(path, headers={"Accept-Encoding": refused})
        assert "content-encoding" not in plain.headers, refused
        assert plain.content == first.content
    authorized = api.client.get(path, headers={"Accept-Encoding": "gzip", **api.editor})
    assert "content-encoding" not in authorized.headers


@pytest.mark.parametrize("in_thread", [False, True], ids=["on-the-loop", "in-a-thread"])
def test_the_first_answer_goes_compressed_too_when_it_will_be_kept(
    api: Api, monkeypatch: pytest.MonkeyPatch, in_thread: bool
) -> None:
    """The gzip copy is made when the answer is kept: the first client that accepts gzip
    gets it as well, rather than the whole answer uncompressed."""
    if in_thread:
        monkeypatch.setattr(caching, "GZIP_THREAD_MIN_BYTES", 0)
    path = "/api/v1/initiatives?limit=500"
    with api.client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as first:
        raw = b"".join(first.iter_raw())
    assert first.status_code == 200
    assert first.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in first.headers["vary"]
    assert int(first.headers["content-length"]) == len(raw)
    plain = api.client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content
    assert int(first.headers["content-length"]) < len(plain.content) // 3
    again = api.client.get(path, headers={"Accept-Encoding": "gzip"})  # now a kept answer
    assert again.headers["content-length"] == first.headers["content-length"]
    for name in ("etag", "vary", "cache-control", "content-type", "x-content-type-options"):
        assert first.headers[name] == plain.headers[name] == again.headers[name]
    # An answer not kept (with a token) is still sent as the route wrote it.
    authorized = api.client.get(path, headers={"Accept-Encoding": "gzip", **api.editor})
    assert "content-encoding" not in authorized.headers


def test_a_small_answer_is_never_compressed(api: Api) -> None:
    for _ in range(2):
        response = api.client.get("/api/v1/initiatives/1", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        # Every public read names Accept-Encoding in Vary, compressed or not, so that a 304,
        # which cannot know the size of the answer it stands for, repeats the same Vary.
        assert "Accept-Encoding" in response.headers["vary"]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (b"gzip", True),
        (b"gzip, deflate, br", True),
        (b"GZIP;q=0.5", True),
        (b"x-gzip", True),
        (b"*", True),
        (b"gzip;q=0", False),
        (b"gzip;q=0.0, *", False),
        (b"*;q=0", False),
        (b"br, deflate", False),
        (b"identity", False),
        (b"", False),
        (b"gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_as_http_says(value: bytes, accepted: bool) -> None:
    assert accepts_gzip(value) is accepted


@pytest.mark.parametrize(
    "route_headers",
    [
        [],
        [(b"content-type", b"application/json")],
        [(b"vary", b"Accept, Accept-Encoding, Authorization"), (b"etag", b'W/"1"')],
        [(b"vary", b"Accept"), (b"x-a", b"1"), (b"vary", b"Accept-Encoding")],
    ],
)
@pytest.mark.parametrize("origin", [None, b"https://example.org"])
def test_cors_answers_as_starlette_s_own_with_or_without_an_origin(
    route_headers: list[tuple[bytes, bytes]], origin: bytes | None
) -> None:
    """The shortcut for requests without Origin (app/web/headers.py) changes no header."""
    from starlette.middleware.cors import CORSMiddleware as StarletteCORS

    from app.web.headers import CORSMiddleware

    async def route(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(route_headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    def answer(middleware: type[StarletteCORS]) -> list[tuple[bytes, bytes]]:
        app = middleware(route, allow_origins=["*"], expose_headers=["ETag"])
        headers = [(b"host", b"127.0.0.1")] + ([(b"origin", origin)] if origin else [])
        scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
        sent: list[Any] = []

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, send))
        return list(sent[0]["headers"])

    assert answer(CORSMiddleware) == answer(StarletteCORS)
