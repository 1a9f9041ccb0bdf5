"""Strict JSON bodies (app/web/jsonbody.py): a member twice or absurd nesting is a 422 problem;
brackets inside strings are text."""

from hypothesis import given, settings
from hypothesis import strategies as st

from app.web.jsonbody import MAX_DEPTH, _depth_within, json_problem
from tests.conftest import Api


def test_brackets_in_strings_are_not_nesting() -> None:
    deep_text = '{"title": "' + "[{" * 100 + '\\"]}"}'
    assert json_problem(deep_text.encode()) is None
    assert json_problem(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) is None
    assert json_problem(("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()) is not None


def test_a_duplicate_member_is_named(api: Api) -> None:
    body = '{"title": "\\u0000", "title": "上書き"}'
    response = api.client.patch(
        "/api/v1/initiatives/1",
        content=body.encode(),
        headers={**api.editor, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert "'title' appears twice" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body"]
    assert api.client.get("/api/v1/initiatives/1").json()["title"] != "上書き"


def test_a_title_with_brackets_is_written(api: Api) -> None:
    title = "[" * 40 + "括弧" + "]" * 40
    response = api.client.patch("/api/v1/initiatives/1", json={"title": title}, headers=api.editor)
    assert response.status_code == 200, response.text
    assert response.json()["title"] == title


def test_authentication_comes_before_the_body(api: Api) -> None:
    body = b'{"title": "a", "title": "b"}'
    response = api.client.patch(
        "/api/v1/initiatives/1", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def _depth_by_walking(body: bytes, limit: int) -> bool:
    """The depth check as a plain walk over every byte: what jsonbody's must agree with."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["[", "]", "{", "}", '"', "\\\\", "a", ",", '\\"', "[[[["]), max_size=60
    )
)
def test_the_depth_check_agrees_with_a_walk_over_every_byte(parts: list[str]) -> None:
    body = "".join(parts).encode()
    for limit in (0, 1, 2, 3, 5):
        assert _depth_within(body, limit) == _depth_by_walking(body, limit), (body, limit)
