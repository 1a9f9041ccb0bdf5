"""The bad-input table covers the whole API, and the digest it relies on sees a write."""

from tests.bad_input_fleet import checksum, seeded_ids
from tests.bad_input_table import API, CASES, ISSUE_CATEGORIES, ROUTES, UNHANDLED
from tests.conftest import Api


def test_every_route_is_in_the_matrix() -> None:
    """Every route, parameter and body field of the API has cases; the generator classified
    everything; every category of the issue is used."""
    assert not UNHANDLED, "\n".join(UNHANDLED)
    by_route: dict[str, set[str]] = {}
    for case in CASES:
        by_route.setdefault(case.route, set()).add(case.target)
    missing = []
    for route in ROUTES:
        targets = by_route.get(route.key, set())
        if not targets:
            missing.append(f"{route.key}: no case at all")
        for param in route.operation.get("parameters", []):
            if param["in"] != "header" and f"{param['in']}:{param['name']}" not in targets:
                missing.append(f"{route.key}: no case for {param['in']}:{param['name']}")
        schema = route.body_schema
        if schema is not None:
            for name in schema.get("properties", {}):
                if not any(t == f"body:{name}" or t.startswith(f"body:{name}[]") for t in targets):
                    missing.append(f"{route.key}: no case for body field {name}")
            if "body" not in targets:
                missing.append(f"{route.key}: no whole-body case")
        if route.takes_csv and "csv" not in targets:
            missing.append(f"{route.key}: takes CSV, but no CSV case")
    unknown = sorted({case.route for case in CASES} - {route.key for route in ROUTES})
    assert not unknown, f"cases for routes the app does not have: {unknown}"
    assert not missing, "\n".join(missing)
    used = {case.category for case in CASES}
    assert set(ISSUE_CATEGORIES) <= used, set(ISSUE_CATEGORIES) - used
    # Where the right answer is not the obvious refusal, the table says why.
    unexplained = [c.id for c in CASES if c.status not in (404, 413, 415, 422) and not c.why]
    assert not unexplained, unexplained


def test_checksum_sees_a_write(api: Api) -> None:
    """The digest the cases rely on moves when a row does (and not otherwise)."""
    before = checksum(api.engine)
    assert checksum(api.engine) == before
    policy = seeded_ids(api.engine)["policy"]
    response = api.client.patch(
        f"{API}/policies/{policy}", json={"focus": "変更"}, headers=api.editor
    )
    assert response.status_code == 200, response.text
    assert checksum(api.engine) != before
