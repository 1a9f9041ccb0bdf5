"""What clients nobody here wrote rely on: ETags that never name two contents, answers no
Host header can poison, reads a browser revalidates, HEAD and 405 (issue #13, items 1-4).

Each test makes the requests the outside client made, the way it made them.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text
from sqlmodel import Session

from app import migrate
from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.models import evaluations, plans
from tests.conftest import Api
from tests.test_auth_and_changes import NEW_PLAN

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"


def _count(engine: Engine, table: Any, *criteria: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*criteria)) or 0)


# --- 1. An ETag never names two contents ----------------------------------------------------


def test_a_plan_deleted_and_made_again_gets_a_new_id_and_never_an_old_etag(api: Api) -> None:
    first = api.client.post(f"{API}/plans", json=NEW_PLAN, headers=api.editor)
    assert first.status_code == 201, first.text
    old_id, old_tag = first.json()["id"], first.headers["etag"]
    deleted = api.client.delete(f"{API}/plans/{old_id}", headers=api.admin)
    assert deleted.status_code == 204, deleted.text

    other = NEW_PLAN | {"slug": "toyama-other", "title": "別の計画"}
    second = api.client.post(f"{API}/plans", json=other, headers=api.editor)
    assert second.status_code == 201, second.text
    new_id = second.json()["id"]
    assert new_id > old_id, "an id is never handed out twice"
    assert second.headers["etag"] != old_tag
    assert api.client.get(f"{API}/plans/{old_id}").status_code == 404

    # The old client's tag neither revalidates the new plan nor lets it overwrite it.
    read = api.client.get(f"{API}/plans/{new_id}", headers={"If-None-Match": old_tag})
    assert read.status_code == 200
    assert read.json()["title"] == "別の計画"
    stale = api.client.patch(
        f"{API}/plans/{new_id}",
        json={"title": "見たことのない計画を上書き"},
        headers=api.editor | {"If-Match": old_tag},
    )
    assert stale.status_code == 412, stale.text
    assert api.client.get(f"{API}/plans/{new_id}").json()["title"] == "別の計画"


def test_an_evaluation_deleted_and_put_again_never_matches_an_old_etag(api: Api) -> None:
    initiative = api.client.get(f"{API}/initiatives", params={"code": "R7-1"}).json()["items"][0]
    url = f"{API}/initiatives/{initiative['id']}/evaluations/R7"
    created = api.client.put(url, json={"status": "achieved"}, headers=api.editor)
    assert created.status_code == 201, created.text
    old_tag = created.headers["etag"]
    assert api.client.delete(url, headers=api.editor).status_code == 204

    again = api.client.put(url, json={"status": "not_achieved"}, headers=api.editor)
    assert again.status_code == 201, again.text
    assert again.headers["etag"] != old_tag
    assert again.json()["id"] != created.json()["id"]

    read = api.client.get(url, headers={"If-None-Match": old_tag})
    assert read.status_code == 200
    assert read.json()["status"] == "not_achieved"
    stale = api.client.put(
        url, json={"status": "achieved"}, headers=api.editor | {"If-Match": old_tag}
    )
    assert stale.status_code == 412, stale.text
    with api.engine.connect() as connection:
        status = connection.scalar(
            select(evaluations.c.status).where(
                evaluations.c.initiative_id == initiative["id"], evaluations.c.fiscal_year == 2025
            )
        )
    assert status == "not_achieved"


def test_the_etag_a_write_sends_is_the_one_a_read_sends_and_if_match_takes(api: Api) -> None:
    read = api.client.get(f"{API}/plans/1")
    tag = read.headers["etag"]
    changed = api.client.patch(
        f"{API}/plans/1",
        json={"philosophy": "市民とともに"},
        headers=api.editor | {"If-Match": tag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != tag
    assert api.client.get(f"{API}/plans/1").headers["etag"] == changed.headers["etag"]
    again = api.client.get(f"{API}/plans/1", headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


def test_the_change_feed_names_one_plan_per_id(api: Api) -> None:
    made = [
        api.client.post(
            f"{API}/plans", json=NEW_PLAN | {"slug": f"feed-{n}"}, headers=api.editor
        ).json()["id"]
        for n in range(2)
    ]
    assert api.client.delete(f"{API}/plans/{made[1]}", headers=api.admin).status_code == 204
    third = api.client.post(f"{API}/plans", json=NEW_PLAN | {"slug": "feed-2"}, headers=api.editor)
    feed = api.client.get(f"{API}/changes", params={"since": 0, "limit": 500}).json()["items"]
    created = [
        item["entity_id"]
        for item in feed
        if item["entity"] == "plan" and item["action"] == "create"
    ]
    assert len(created) == len(set(created)), "a plan id was created twice in the feed"
    assert third.json()["id"] not in made


@pytest.mark.only_on("postgresql")
def test_the_migration_keeps_counting_from_where_postgresql_stood(scratch_url: str) -> None:
    """An id handed out and deleted before the upgrade is not handed out after it."""
    migrate.upgrade(scratch_url, "2f8d6651b8f0")
    engine = create_engine(scratch_url)
    columns = (
        "slug, title, municipality_code, municipality_name, start_fiscal_year,"
        " end_fiscal_year, version, created_at, updated_at"
    )
    with engine.begin() as connection:
        for slug in ("a", "b", "c"):
            connection.execute(
                text(
                    f"INSERT INTO plans ({columns}) VALUES"
                    " (:slug, 't', '000000', 'x', 2023, 2026, 1, now(), now())"
                ),
                {"slug": slug},
            )
        connection.execute(text("DELETE FROM plans WHERE slug = 'c'"))
        deleted = 3
    migrate.upgrade(scratch_url)
    with engine.begin() as connection:
        new_id = connection.scalar(
            text(
                f"INSERT INTO plans ({columns}) VALUES"
                " ('d', 't', '000000', 'x', 2023, 2026, 1, now(), now()) RETURNING id"
            )
        )
    engine.dispose()
    assert new_id == deleted + 1


@pytest.mark.only_on("sqlite")
def test_sqlite_tables_never_reuse_ids(api: Api) -> None:
    """AUTOINCREMENT: without it SQLite hands the largest id out again once it is deleted."""
    with api.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        ).all()
    sql: dict[str, str] = {str(name): str(table) for name, table in rows}
    for table in ("plans", "policies", "measures", "initiatives", "evaluations", "reports"):
        assert "AUTOINCREMENT" in sql[table].upper(), table


def _tags(api: Api, paths: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each path's ETag and body, as a client that read them holds them."""
    held = {}
    for path in paths:
        read = api.client.get(path)
        assert read.status_code == 200, read.text
        held[path] = (read.headers["etag"], read.json())
    return held


def _revalidated(api: Api, held: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Each path asked again with the ETag the client holds: every one must be a 200 (its
    content changed), and is answered with its new body."""
    fresh = {}
    for path, (tag, _body) in held.items():
        again = api.client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 200, f"{path} still matched {tag}: {again.status_code}"
        assert again.headers["etag"] != tag
        fresh[path] = again.json()
    return fresh


def _patched(api: Api, path: str, body: dict[str, Any]) -> None:
    """PATCH path with body, as a client does: If-Match the ETag it has just read."""
    tag = api.client.get(path).headers["etag"]
    answer = api.client.patch(path, json=body, headers=api.editor | {"If-Match": tag})
    assert answer.status_code == 200, answer.text


def _initiatives_of_measure(api: Api, measure: int) -> list[str]:
    listed = api.client.get(f"{API}/initiatives", params={"measure_id": measure}).json()["items"]
    assert listed, f"measure {measure} has initiatives"
    return [f"{API}/initiatives/{item['id']}" for item in listed]


def test_a_measure_renumbered_changes_the_etag_of_each_initiative_that_shows_it(
    api: Api,
) -> None:
    paths = _initiatives_of_measure(api, 3)
    other = _initiatives_of_measure(api, 1)
    held, untouched = _tags(api, paths), _tags(api, other)
    _patched(api, f"{API}/measures/3", {"number": 98})

    for path, body in _revalidated(api, held).items():
        assert body["measure_number"] == 98, path
        assert body["version"] == held[path][1]["version"] + 1
        # Its old tag no longer lets a write through either.
        stale = api.client.patch(
            path,
            json={"title": "古い版への上書き"},
            headers=api.editor | {"If-Match": held[path][0]},
        )
        assert stale.status_code == 412, stale.text
    for path, (tag, _body) in untouched.items():  # another measure's initiatives keep theirs
        assert api.client.get(path, headers={"If-None-Match": tag}).status_code == 304


def test_a_measure_moved_to_another_policy_changes_its_initiatives_etags(api: Api) -> None:
    assert api.client.get(f"{API}/measures/3").json()["policy_id"] == 1
    held = _tags(api, _initiatives_of_measure(api, 3))
    _patched(api, f"{API}/measures/3", {"policy_id": 2, "number": 97})
    policy_number = api.client.get(f"{API}/policies/2").json()["number"]
    for path, body in _revalidated(api, held).items():
        assert (body["policy_id"], body["policy_number"]) == (2, policy_number), path


def test_a_policy_renumbered_changes_the_etags_of_its_measures_and_their_initiatives(
    api: Api,
) -> None:
    measures = api.client.get(f"{API}/measures", params={"policy_id": 1}).json()["items"]
    measure_paths = [f"{API}/measures/{item['id']}" for item in measures]
    initiative_paths = [p for item in measures for p in _initiatives_of_measure(api, item["id"])]
    held = _tags(api, measure_paths + initiative_paths)
    untouched = _tags(api, [f"{API}/measures/{item['id']}" for item in api.client.get(
        f"{API}/measures", params={"policy_id": 2}).json()["items"]])  # fmt: skip
    _patched(api, f"{API}/policies/1", {"number": 9})
    for path, body in _revalidated(api, held).items():
        assert body["policy_number"] == 9, path
    for path, (tag, _body) in untouched.items():
        assert api.client.get(path, headers={"If-None-Match": tag}).status_code == 304


def test_an_initiative_recoded_changes_the_etag_of_each_evaluation_that_shows_it(
    api: Api,
) -> None:
    initiative = api.client.get(f"{API}/initiatives", params={"code": "R6-13"}).json()["items"][0]
    url = f"{API}/initiatives/{initiative['id']}"
    listed = api.client.get(f"{url}/evaluations").json()["items"]
    assert listed, "R6-13 has evaluations"
    held = _tags(api, [f"{url}/evaluations/{item['fiscal_year']}" for item in listed])
    _patched(api, url, {"code": "R6-130"})
    for path, body in _revalidated(api, held).items():
        assert body["code"] == "R6-130", path


def _report(api: Api) -> str:
    reports = api.client.get(f"{API}/reports").json()["items"]
    assert reports, "the seed publishes a report"
    return f"{API}/reports/{reports[0]['id']}"


def test_a_report_shows_its_policies_numbers_and_its_initiatives_codes_as_they_are_now(
    api: Api,
) -> None:
    report = _report(api)
    held = _tags(api, [report])
    _patched(api, f"{API}/policies/1", {"number": 7})
    line = next(line for line in _revalidated(api, held)[report]["lines"] if line["policy_id"] == 1)
    assert line["policy_number"] == 7

    held = _tags(api, [report])
    named = held[report][1]["highlights"][0]
    initiative = f"{API}/initiatives/{named['initiative_id']}"
    _patched(api, initiative, {"code": named["code"] + "0"})
    highlights = _revalidated(api, held)[report]["highlights"]
    assert named["code"] + "0" in [highlight["code"] for highlight in highlights]


@pytest.mark.parametrize(
    ("deleted", "part"), [("policies/3", "lines"), ("initiatives/1", "highlights")]
)
def test_a_report_that_loses_a_part_with_its_policy_or_initiative_changes_its_etag(
    api: Api, deleted: str, part: str
) -> None:
    report = _report(api)
    held = _tags(api, [report])
    gone = api.client.delete(f"{API}/{deleted}?cascade=true", headers=api.admin)
    assert gone.status_code == 204, gone.text
    after, before = _revalidated(api, held)[report], held[report][1]
    assert len(after[part]) == len(before[part]) - 1
    assert after["version"] == before["version"] + 1


# --- 2. No kept answer depends on a header an attacker controls -----------------------------


@pytest.fixture
def served(fresh_url: str) -> Iterator[Any]:
    """Build clients on one database with the settings a test gives (each a running app,
    with its lifespan and one event loop, as a server runs it)."""
    with ExitStack() as stack:
        apps: list[Any] = []

        def build(**settings: Any) -> TestClient:
            application = create_app(Settings(database_url=fresh_url, **settings))
            apps.append(application)
            return stack.enter_context(TestClient(application))

        yield build
    for application in apps:
        application.state.engine.dispose()


POISONABLE = [
    f"{API}/initiatives?limit=2",  # Link: next
    f"{API}/catalog",  # download URLs
    f"{API}/export/plans/1/datapackage.json",
    f"{API}/export/initiatives.csv",  # Link: license, describedby
    f"{API}/plans/1",
]


def _answer_text(response: httpx.Response) -> str:
    headers = " ".join(f"{name}: {value}" for name, value in response.headers.items())
    return headers + "\n" + response.text


def test_one_request_with_a_foreign_host_poisons_no_later_answer(served: Any) -> None:
    client = served()
    for path in POISONABLE:
        evil = client.get(path, headers={"Host": "evil.example"})
        assert evil.status_code == 200
    for path in POISONABLE:
        for _ in range(2):  # the second is served from the kept answers
            answer = client.get(path)
            assert answer.status_code == 200
            assert "evil.example" not in _answer_text(answer), path
    # The conditional path too: the foreign client's tag is not this host's.
    evil_tag = client.get(POISONABLE[0], headers={"Host": "evil.example"}).headers["etag"]
    assert client.get(POISONABLE[0], headers={"If-None-Match": evil_tag}).status_code == 200


def test_public_base_url_is_the_origin_of_every_absolute_url(served: Any) -> None:
    client = served(public_base_url="https://data.example.jp")
    for path in POISONABLE:
        answer = client.get(path, headers={"Host": "evil.example"})
        assert answer.status_code == 200
        assert "evil.example" not in _answer_text(answer), path
    listing = client.get(f"{API}/initiatives?limit=2")
    assert listing.headers["link"].startswith("<https://data.example.jp/api/v1/initiatives?")
    catalog = client.get(f"{API}/catalog").text
    assert "https://data.example.jp/api/v1/" in catalog
    assert "http://testserver" not in catalog


def test_a_write_answers_its_location_on_the_public_base_url(fresh_url: str) -> None:
    application = create_app(
        Settings(database_url=fresh_url, public_base_url="https://data.example.jp:8443")
    )
    with Session(application.state.engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    with TestClient(application) as client:
        made = client.post(
            f"{API}/plans",
            json=NEW_PLAN,
            headers={"Authorization": f"Bearer {token}", "Host": "evil.example"},
        )
    application.state.engine.dispose()
    assert made.status_code == 201, made.text
    assert (
        made.headers["location"] == f"https://data.example.jp:8443{API}/plans/{made.json()['id']}"
    )


def test_public_base_url_must_be_an_origin(fresh_url: str) -> None:
    for wrong in ("data.example.jp", "ftp://data.example.jp", "https://data.example.jp/api"):
        with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
            create_app(Settings(database_url=fresh_url, public_base_url=wrong))


def test_allowed_hosts_refuses_other_hosts_with_a_problem(served: Any) -> None:
    client = served(allowed_hosts="data.example.jp, *.city.example.jp")
    refused = client.get(f"{API}/plans", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert "ALLOWED_HOSTS" in refused.json()["detail"]
    for host in ("data.example.jp", "data.example.jp:8000", "opendata.city.example.jp"):
        assert client.get(f"{API}/plans", headers={"Host": host}).status_code == 200, host
    assert client.get(f"{API}/plans", headers={"Host": "city.example.jp.evil"}).status_code == 400


def test_x_forwarded_headers_count_only_from_trusted_proxies(fresh_url: str) -> None:
    path = f"{API}/initiatives?limit=2"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}

    def link(client_address: str, trusted: str) -> str:
        application = create_app(Settings(database_url=fresh_url, forwarded_allow_ips=trusted))
        with TestClient(application, client=(client_address, 40000)) as client:
            answer = client.get(path, headers=forwarded)
        application.state.engine.dispose()
        return str(answer.headers["link"])

    assert link("192.0.2.1", "").startswith("<http://testserver/")
    assert link("192.0.2.1", "10.0.0.1").startswith("<http://testserver/")
    assert link("10.0.0.1", "10.0.0.1").startswith("<https://testserver/")


# --- 3. A browser app never shows its own write undone --------------------------------------


READS = [
    f"{API}/plans/1",
    f"{API}/initiatives/1",
    f"{API}/plans",
    f"{API}/initiatives?limit=5",
    f"{API}/stats/achievement?fiscal_year=R6",
    f"{API}/export/initiatives.csv",
    f"{API}/catalog",
]


@pytest.mark.parametrize("path", READS)
def test_reads_revalidate_and_a_304_repeats_the_caching_headers(
    client: TestClient, path: str
) -> None:
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    for name in ("etag", "cache-control", "vary"):
        assert again.headers[name] == first.headers[name], name


def test_shared_cache_max_age_gives_a_cdn_a_lifetime_and_browsers_none(served: Any) -> None:
    client = served(shared_cache_max_age=300)
    for path in (f"{API}/plans/1", f"{API}/plans", f"{API}/stats/achievement?fiscal_year=R6"):
        control = client.get(path).headers["cache-control"]
        assert control == "public, max-age=0, s-maxage=300", path


def test_an_answer_with_a_token_is_never_stored(api: Api) -> None:
    for path in (f"{API}/plans/1", f"{API}/plans"):
        assert api.client.get(path, headers=api.editor).headers["cache-control"] == "no-store"


# --- 4. HTTP methods ------------------------------------------------------------------------


def _get_paths(application: Any) -> list[str]:
    """Every GET route the schema lists, with the seed's first ids and years in its path."""
    values = {
        "plan_id": "1",
        "policy_id": "1",
        "measure_id": "1",
        "initiative_id": "1",
        "report_id": "1",
        "fiscal_year": "R6",
        "name": "initiatives",
        "format": "csv",
    }
    paths = []
    for template, operations in application.openapi()["paths"].items():
        if "get" in operations:
            path = template
            for name, value in values.items():
                path = path.replace("{" + name + "}", value)
            assert "{" not in path, path
            paths.append(path)
    return paths + ["/docs"]


def test_head_answers_on_every_get_route_with_the_gets_headers(
    app: Any, client: TestClient
) -> None:
    paths = _get_paths(app)
    assert len(paths) > 25
    plain = {"Accept-Encoding": "identity"}  # the same representation for both
    for path in paths:
        got = client.get(path, headers=plain)
        head = client.head(path, headers=plain)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        if path == "/metrics":  # its figures move with every request, this one included
            continue
        for name, value in got.headers.items():
            if name not in ("date", "x-request-id"):  # made per request
                assert head.headers.get(name) == value, (path, name)


def test_head_of_a_missing_resource_is_404(client: TestClient) -> None:
    assert client.head(f"{API}/plans/999999").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"{API}/catalog", "GET, HEAD"),
        ("DELETE", f"{API}/export/initiatives.csv", "GET, HEAD"),
        ("POST", f"{API}/plans/1", "GET, HEAD, PATCH, DELETE"),
        ("PATCH", f"{API}/plans", "GET, HEAD, POST"),
        ("PUT", "/healthz", "GET, HEAD"),
    ],
)
def test_a_method_a_path_does_not_have_is_405_before_any_token_check(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allow
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    assert "www-authenticate" not in answer.headers


def test_a_write_with_no_token_to_a_real_route_is_still_401(client: TestClient) -> None:
    assert client.patch(f"{API}/plans/1", json={"title": "x"}).status_code == 401


def test_retry_after_and_the_other_headers_are_exposed_to_browsers(client: TestClient) -> None:
    answer = client.get(f"{API}/plans", headers={"Origin": "https://app.example.jp"})
    exposed = {
        name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "link", "location", "content-disposition", "retry-after"} <= exposed


def test_nothing_was_written_by_the_refused_methods(client: TestClient, engine: Engine) -> None:
    before = _count(engine, plans)
    client.post(f"{API}/plans/1", json=NEW_PLAN)
    assert _count(engine, plans) == before
