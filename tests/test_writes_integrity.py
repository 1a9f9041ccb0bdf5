"""The write side over HTTP (issue 3): referential integrity.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from app.models import (
    changes,
    evaluations,
    initiatives,
    measures,
    plans,
    policies,
    report_highlights,
    report_lines,
    reports,
)
from tests.conftest import Api
from tests.helpers import API, LABELS, PLAN_SLUG, SEED, SEED_INITIATIVES, assert_problem, snapshot
from tests.writes_helpers import (
    CONTENT_TABLES,
    PLAN_END,
    R7,
    REPORT_YEAR,
    TABLES,
    TARGETS,
    UNKNOWN_ID,
    Item,
    assert_invalid,
    case,
    count_rows,
    create_body,
    error_locs,
    get,
    ids_where,
    initiative_id,
    make_other_plan,
    measure_id,
    new_plan_body,
    plan_id,
    policy_id,
    post,
    report_id,
    row_of,
)

MISSING_PARENTS: list[tuple[str, str, Callable[[Engine], Item], list[Any]]] = [
    (
        "policies",
        "plan_id",
        lambda engine: {"plan_id": UNKNOWN_ID, "number": 9, "title": "方針"},
        ["body", "plan_id"],
    ),
    (
        "measures",
        "policy_id",
        lambda engine: {"policy_id": UNKNOWN_ID, "number": 9, "title": "施策"},
        ["body", "policy_id"],
    ),
    (
        "initiatives",
        "measure_id",
        lambda engine: {"measure_id": UNKNOWN_ID, "code": "R7-99", "title": "取組"},
        ["body", "measure_id"],
    ),
    (
        "reports",
        "plan_id",
        lambda engine: {"plan_id": UNKNOWN_ID, "fiscal_year": 2025, "title": "報告"},
        ["body", "plan_id"],
    ),
    (
        "reports",
        "lines",
        lambda engine: {
            "plan_id": plan_id(engine),
            "fiscal_year": 2025,
            "title": "報告",
            "lines": [
                {"policy_id": policy_id(engine, 1), "items": 1, "achieved": 1},
                {"policy_id": UNKNOWN_ID, "items": 1, "achieved": 1},
            ],
        },
        ["body", "lines", 1, "policy_id"],
    ),
    (
        "reports",
        "highlights",
        lambda engine: {
            "plan_id": plan_id(engine),
            "fiscal_year": 2025,
            "title": "報告",
            "highlights": [{"initiative_id": UNKNOWN_ID, "section": "added"}],
        },
        ["body", "highlights", 0, "initiative_id"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "field", "body", "loc"),
    MISSING_PARENTS,
    ids=[f"{kind}-{field}" for kind, field, _, _ in MISSING_PARENTS],
)
def test_a_missing_parent_is_422_naming_the_field(
    api: Api, kind: str, field: str, body: Callable[[Engine], Item], loc: list[Any]
) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/{kind}", json=body(api.engine), headers=api.editor)
    assert loc in error_locs(assert_invalid(response, field))
    assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.parametrize(
    ("part", "loc"),
    [
        ("lines", ["body", "lines", 0, "policy_id"]),
        ("highlights", ["body", "highlights", 0, "initiative_id"]),
    ],
)
def test_report_parts_must_belong_to_the_reports_plan(api: Api, part: str, loc: list[Any]) -> None:
    _, other_policy, other_measure = make_other_plan(api)
    other_initiative = post(
        api, "/initiatives", {"measure_id": other_measure, "code": "R7-5", "title": "他市の取組"}
    )
    parts: Item = {
        "lines": [{"policy_id": other_policy, "items": 1, "achieved": 0}],
        "highlights": [{"initiative_id": other_initiative["id"], "section": "added"}],
    }
    body = {**create_body(api.engine, "reports"), part: parts[part]}
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/reports", json=body, headers=api.editor)
    assert loc in error_locs(assert_invalid(response, part))
    assert snapshot(api.engine, CONTENT_TABLES) == before

    patched = api.client.patch(
        f"{API}/reports/{report_id(api.engine)}", json={part: parts[part]}, headers=api.editor
    )
    assert loc in error_locs(assert_invalid(patched, part))
    assert snapshot(api.engine, CONTENT_TABLES) == before


DUPLICATES: list[tuple[str, Callable[[Engine], Item], list[str]]] = [
    ("plans", lambda engine: new_plan_body(PLAN_SLUG), [PLAN_SLUG]),
    (
        "policies",
        lambda engine: {"plan_id": plan_id(engine), "number": 3, "title": "重複"},
        ["3", "number"],
    ),
    (
        "measures",
        lambda engine: {"policy_id": policy_id(engine, 2), "number": 3, "title": "重複"},
        ["3", "number"],
    ),
    (
        "initiatives",
        lambda engine: {"measure_id": measure_id(engine, 3, 3), "code": "R6-7", "title": "重複"},
        ["R6-7"],
    ),
    (
        "initiatives",
        lambda engine: {
            "measure_id": measure_id(engine, 1, 1),
            "code": "Ｒ６－７",
            "title": "重複",
        },
        ["R6-7"],
    ),
    (
        "reports",
        lambda engine: {"plan_id": plan_id(engine), "fiscal_year": "令和6年度", "title": "重複"},
        [LABELS[REPORT_YEAR]],
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "body", "named"),
    DUPLICATES,
    ids=["plan-slug", "policy-number", "measure-number", "code", "full-width-code", "report-year"],
)
def test_a_duplicate_natural_key_is_409_naming_the_key(
    api: Api, kind: str, body: Callable[[Engine], Item], named: list[str]
) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/{kind}", json=body(api.engine), headers=api.editor)
    detail = assert_problem(response, 409)["detail"]
    for word in named:
        assert word in detail, (word, detail)
    assert snapshot(api.engine, CONTENT_TABLES) == before


PATCH_DUPLICATES: list[tuple[str, Callable[[Api], int], Item, str]] = [
    (
        "plans",
        lambda api: post(api, "/plans", new_plan_body())["id"],
        {"slug": PLAN_SLUG},
        PLAN_SLUG,
    ),
    ("policies", lambda api: policy_id(api.engine, 1), {"number": 3}, "3"),
    ("measures", lambda api: measure_id(api.engine, 1, 1), {"number": 3}, "3"),
    ("initiatives", lambda api: initiative_id(api.engine, "R6-7"), {"code": "R6-10"}, "R6-10"),
    ("initiatives", lambda api: initiative_id(api.engine, "R6-7"), {"code": "Ｒ６－１０"}, "R6-10"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "locate", "change", "named"),
    PATCH_DUPLICATES,
    ids=["plan-slug", "policy-number", "measure-number", "code", "full-width-code"],
)
def test_patch_onto_a_taken_natural_key_is_409(
    api: Api, kind: str, locate: Callable[[Api], int], change: Item, named: str
) -> None:
    row_id = locate(api)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.patch(f"{API}/{kind}/{row_id}", json=change, headers=api.editor)
    assert named in assert_problem(response, 409)["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.slow
def test_patch_report_onto_a_taken_fiscal_year_is_409(api: Api) -> None:
    second = post(
        api, "/reports", {"plan_id": plan_id(api.engine), "fiscal_year": 2025, "title": "R7"}
    )
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.patch(
        f"{API}/reports/{second['id']}", json={"fiscal_year": "R6"}, headers=api.editor
    )
    assert LABELS[REPORT_YEAR] in assert_problem(response, 409)["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before


def expected_descendants(engine: Engine, kind: str, row_id: int) -> dict[str, set[int]]:
    """The rows that go with a deleted row, found with plain joins."""
    if kind == "plans":
        the_policies = ids_where(engine, policies, policies.c.plan_id == row_id)
        the_measures = ids_where(engine, measures, measures.c.plan_id == row_id)
        the_initiatives = ids_where(engine, initiatives, initiatives.c.plan_id == row_id)
        the_reports = ids_where(engine, reports, reports.c.plan_id == row_id)
    elif kind == "policies":
        the_policies = {row_id}
        the_measures = ids_where(engine, measures, measures.c.policy_id == row_id)
        the_initiatives = ids_where(engine, initiatives, initiatives.c.measure_id.in_(the_measures))
        the_reports = set()
    elif kind == "measures":
        the_policies, the_measures, the_reports = set(), {row_id}, set()
        the_initiatives = ids_where(engine, initiatives, initiatives.c.measure_id == row_id)
    else:
        the_policies, the_measures, the_reports = set(), set(), set()
        the_initiatives = {row_id}
    found = {
        "plans": {row_id} if kind == "plans" else set(),
        "policies": the_policies,
        "measures": the_measures,
        "initiatives": the_initiatives,
        "evaluations": ids_where(
            engine, evaluations, evaluations.c.initiative_id.in_(the_initiatives)
        ),
        "reports": the_reports,
        "report_lines": ids_where(
            engine,
            report_lines,
            report_lines.c.report_id.in_(the_reports) | report_lines.c.policy_id.in_(the_policies),
        ),
        "report_highlights": ids_where(
            engine,
            report_highlights,
            report_highlights.c.report_id.in_(the_reports)
            | report_highlights.c.initiative_id.in_(the_initiatives),
        ),
    }
    return found


CASCADES: list[tuple[str, Callable[[Engine], int]]] = [
    ("plans", plan_id),
    ("policies", lambda engine: policy_id(engine, 1)),
    ("measures", lambda engine: measure_id(engine, 1, 1)),
    ("initiatives", lambda engine: initiative_id(engine, "R6-7")),  # has an evaluation
    ("initiatives", lambda engine: initiative_id(engine, "R7-1")),  # only a report highlight
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "locate"), CASCADES, ids=["plan", "policy", "measure", "initiative", "highlighted"]
)
def test_delete_with_children_is_409_unless_cascade(
    api: Api, kind: str, locate: Callable[[Engine], int]
) -> None:
    row_id = locate(api.engine)
    headers = api.admin if kind == "plans" else api.editor
    # A second plan that must survive whatever happens to the first.
    other_plan, other_policy, other_measure = make_other_plan(api)
    survivors = {
        "plans": {other_plan},
        "policies": {other_policy},
        "measures": {other_measure},
    }
    gone = expected_descendants(api.engine, kind, row_id)
    assert sum(len(ids) for name, ids in gone.items() if name != kind) > 0  # it has children

    before = snapshot(api.engine, CONTENT_TABLES)
    refused = api.client.delete(f"{API}/{kind}/{row_id}", headers=headers)
    assert_problem(refused, 409)
    assert snapshot(api.engine, CONTENT_TABLES) == before
    refused = api.client.delete(f"{API}/{kind}/{row_id}?cascade=false", headers=headers)
    assert_problem(refused, 409)
    assert snapshot(api.engine, CONTENT_TABLES) == before

    counts = {name: ids_where(api.engine, TABLES[name]) for name in gone}
    response = api.client.delete(f"{API}/{kind}/{row_id}?cascade=true", headers=headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(get(api, f"/{kind}/{row_id}"), 404)
    for name, ids in gone.items():
        remaining = ids_where(api.engine, TABLES[name])
        assert remaining == counts[name] - ids, name
        assert survivors.get(name, set()) <= remaining, name


def test_delete_a_leaf_is_204(api: Api) -> None:
    created = post(api, "/policies", create_body(api.engine, "policies"))
    response = api.client.delete(f"{API}/policies/{created['id']}", headers=api.editor)
    assert response.status_code == 204, response.text
    assert row_of(api.engine, policies, created["id"]) is None
    assert_problem(get(api, f"/policies/{created['id']}"), 404)


def test_delete_a_report_takes_its_lines_and_highlights(api: Api) -> None:
    row_id = report_id(api.engine)
    assert count_rows(api.engine, report_lines, report_lines.c.report_id == row_id) > 0
    response = api.client.delete(f"{API}/reports/{row_id}", headers=api.editor)
    assert response.status_code == 204, response.text
    assert row_of(api.engine, reports, row_id) is None
    assert count_rows(api.engine, report_lines, report_lines.c.report_id == row_id) == 0
    assert count_rows(api.engine, report_highlights, report_highlights.c.report_id == row_id) == 0
    # The initiatives and policies it named stay.
    assert count_rows(api.engine, initiatives) == len(SEED_INITIATIVES)
    assert count_rows(api.engine, policies) == len(SEED["policies"])


@pytest.mark.parametrize("cascade", ["", "?cascade=true"])
def test_plan_deletion_needs_admin(api: Api, cascade: str) -> None:
    row_id = plan_id(api.engine)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.delete(f"{API}/plans/{row_id}{cascade}", headers=api.editor)
    assert_problem(response, 403)
    assert snapshot(api.engine, CONTENT_TABLES) == before

    unused = post(api, "/plans", new_plan_body())
    response = api.client.delete(f"{API}/plans/{unused['id']}", headers=api.editor)
    assert_problem(response, 403)
    assert row_of(api.engine, plans, unused["id"]) is not None
    response = api.client.delete(f"{API}/plans/{unused['id']}", headers=api.admin)
    assert response.status_code == 204, response.text
    assert row_of(api.engine, plans, unused["id"]) is None


def test_admin_deletes_the_seeded_plan_with_everything_in_it(api: Api) -> None:
    row_id = plan_id(api.engine)
    response = api.client.delete(f"{API}/plans/{row_id}?cascade=true", headers=api.admin)
    assert response.status_code == 204, response.text
    for table in CONTENT_TABLES:
        if table is not changes:
            assert count_rows(api.engine, table) == 0, table.name


UNKNOWN_PATHS = [
    "/plans/{unknown}",
    "/policies/{unknown}",
    "/measures/{unknown}",
    "/initiatives/{unknown}",
    "/reports/{unknown}",
    "/initiatives/{unknown}/evaluations/2024",
    "/initiatives/{r7}/evaluations/2025",  # the initiative exists, its evaluation does not
]


def test_unknown_ids_are_404(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for path in UNKNOWN_PATHS:
        with case(f"DELETE {path}"):
            url = API + path.format(unknown=UNKNOWN_ID, r7=initiative_id(api.engine, R7))
            assert_problem(api.client.delete(url, headers=api.admin), 404)
            assert snapshot(api.engine, CONTENT_TABLES) == before
    for target in TARGETS:
        with case(f"PATCH {target.kind}"):
            response = api.client.patch(
                f"{API}/{target.kind}/{UNKNOWN_ID}", json={target.field: "x"}, headers=api.editor
            )
            assert_problem(response, 404)
            assert snapshot(api.engine, CONTENT_TABLES) == before


BAD_LINES: dict[str, Callable[[Engine], list[Item]]] = {
    "achieved + unconfirmed > items": lambda engine: [
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 9, "unconfirmed": 2}
    ],
    "achieved > items": lambda engine: [
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 11}
    ],
    "negative": lambda engine: [{"policy_id": policy_id(engine, 1), "items": -1, "achieved": 0}],
    "duplicate policy": lambda engine: [
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 1},
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 2},
    ],
}


def test_bad_report_lines_are_422(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for name, lines in BAD_LINES.items():
        with case(f"POST {name}"):
            body = {**create_body(api.engine, "reports"), "lines": lines(api.engine)}
            response = api.client.post(f"{API}/reports", json=body, headers=api.editor)
            assert_invalid(response, "lines")
            assert snapshot(api.engine, CONTENT_TABLES) == before
        with case(f"PATCH {name}"):
            response = api.client.patch(
                f"{API}/reports/{report_id(api.engine)}",
                json={"lines": lines(api.engine)},
                headers=api.editor,
            )
            assert_invalid(response, "lines")
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_duplicate_initiative_in_highlights_is_422(api: Api) -> None:
    target = initiative_id(api.engine, R7)
    body = {
        **create_body(api.engine, "reports"),
        "highlights": [
            {"initiative_id": target, "section": "added"},
            {"initiative_id": target, "section": "implemented"},
        ],
    }
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/reports", json=body, headers=api.editor)
    assert ["body", "highlights", 1, "initiative_id"] in error_locs(assert_invalid(response))
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_report_outside_the_plan_period_is_422(api: Api) -> None:
    body = {**create_body(api.engine, "reports"), "fiscal_year": PLAN_END + 1}
    before = snapshot(api.engine, CONTENT_TABLES)
    assert_invalid(api.client.post(f"{API}/reports", json=body, headers=api.editor), "fiscal_year")
    assert snapshot(api.engine, CONTENT_TABLES) == before
