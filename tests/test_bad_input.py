"""Bad input on every route: a table of requests that must each be refused cleanly.

The table (tests/bad_input_table.py) says what to send and what must come back; each case runs
on a database of the fleet (tests/bad_input_fleet.py), whose digest must not move.

Run on PostgreSQL too: TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<db>.
"""

from collections.abc import Iterator

import pytest

from tests.bad_input_fleet import Fleet, judge, send, table_digests
from tests.bad_input_table import (
    JSON_TYPE,
    READ_PATH,
    READ_QUERY,
    ROUTES,
    TARGETS,
    Case,
    Json,
    Route,
    params,
    url_of,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    made = Fleet(template_url, tmp_path_factory.mktemp("bad-input"))
    yield made
    made.close()


@pytest.mark.parametrize("case", params())
def test_bad_input(case: Case, fleet: Fleet) -> None:
    env = fleet.get(case.group)
    response = send(env, case)
    after = table_digests(env.api.engine, env.tables)
    changed = sorted(name for name, digest in env.baseline.items() if after[name] != digest)
    if changed:
        env.spoiled = True  # the next case gets the rows back first
    wrong = judge(case, response)
    if changed:
        wrong.append(f"the database changed: {', '.join(changed)}")
    if not wrong and case.check is not None:
        try:
            case.check(env, response)
        except AssertionError as error:
            wrong.append(f"{type(case.check).__name__}: {error}")
    if wrong:
        # pytrace=False: the message says it all, and formatting a traceback of this long
        # module costs more than the request (it adds up over the xfailed cases).
        pytest.fail(
            f"{case.method} {case.url} ({case.category}): " + "; ".join(wrong) + "\n"
            f"answer: {response.text[:500]}",
            pytrace=False,
        )


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.key in TARGETS and r.body_schema], ids=lambda r: r.key
)
def test_the_valid_requests_are_valid(route: Route, fleet: Fleet) -> None:
    """The body each generated case spoils one field of is accepted as it is: so a refusal
    is the spoiled field's doing."""
    target = TARGETS[route.key]
    for body in (target.base, target.sample):
        if body is None:
            continue
        env = fleet.get("writes")
        case = Case(
            route.key,
            "body",
            "",
            "valid",
            url_of(route, target.path, list(target.query.items())),
            Json(body),
            JSON_TYPE,
        )
        response = send(env, case)
        env.spoiled = True
        assert response.status_code < 300, (body, response.text)


def test_the_valid_reads_are_valid(fleet: Fleet) -> None:
    """The path values the read cases start from answer 200."""
    env = fleet.get("reads")
    for route in ROUTES:
        if not route.is_write:
            path = {p["name"]: READ_PATH[p["name"]] for p in route.params("path")}
            url = url_of(route, path, list(READ_QUERY.get(route.key, {}).items()))
            response = env.api.client.get(url.format(**env.ids))
            assert response.status_code == 200, (route.key, response.text[:300])
