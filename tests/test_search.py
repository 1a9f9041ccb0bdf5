"""Search as a person types (issue #19, part 5): what a client sees over HTTP.

Several words must all be found, each anywhere in what is searched; katakana and hiragana
find each other; words of one and two characters work; % and _ are plain characters;
policies and measures are searched too. The seed (seed/kanazawa-2023-2026.toml) gives the
texts: R7-1 is 避難所の入退所等に活用できるデジタル市民パスポートの導入, and 伝票 appears only
in R6-7's evaluation result.
"""

from typing import Any

import httpx
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app import migrate
from tests.conftest import Api
from tests.helpers import API, assert_problem

Item = dict[str, Any]


def ok(response: httpx.Response) -> Item:
    assert response.status_code == 200, response.text
    body: Item = response.json()
    return body


def codes(client: TestClient, q: str, **params: Any) -> list[str]:
    """The codes of every initiative GET /initiatives?q= lists, in its order."""
    body = ok(client.get(f"{API}/initiatives", params={"q": q, "limit": 500, **params}))
    assert body["total"] == len(body["items"])
    return [item["code"] for item in body["items"]]


def titles(client: TestClient, path: str, q: str, **params: Any) -> list[str]:
    body = ok(client.get(f"{API}{path}", params={"q": q, "limit": 500, **params}))
    assert body["total"] == len(body["items"])
    return [item["title"] for item in body["items"]]


# --- several words: every one must be found --------------------------------------------------


@pytest.mark.parametrize(
    "q", ["デジタル 市民", "デジタル\u3000市民", "  市民\u3000 デジタル ", "ﾃﾞｼﾞﾀﾙ 市民"]
)
def test_every_word_must_be_found_whatever_space_separates_them(client: TestClient, q: str) -> None:
    assert codes(client, "デジタル") == ["R6-10", "R7-1", "R7-11"]
    assert codes(client, "市民") == ["R7-1", "R7-18", "R7-23"]
    assert codes(client, q) == ["R7-1"]


def test_words_may_be_found_in_different_fields(client: TestClient) -> None:
    # クレジットカード is in R6-7's title, 伝票 only in its evaluation's result.
    assert codes(client, "クレジットカード 伝票") == ["R6-7"]
    # R6-7 in the code, 給油 in the title, 廃止 in the result.
    assert codes(client, "r6-7 給油 廃止") == ["R6-7"]


def test_a_word_found_nowhere_leaves_nothing(client: TestClient) -> None:
    body = ok(client.get(f"{API}/initiatives", params={"q": "デジタル 存在しない語"}))
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_words_combine_with_the_other_filters(client: TestClient) -> None:
    assert codes(client, "デジタル", fiscal_year="R7") == ["R7-1", "R7-11"]
    assert codes(client, "デジタル 市民", fiscal_year="R6") == []


# --- katakana and hiragana ------------------------------------------------------------------


@pytest.mark.parametrize("q", ["かーど", "カード", "ｶｰﾄﾞ", "くれじっと かーど"])
def test_hiragana_finds_katakana(client: TestClient, q: str) -> None:
    assert codes(client, q) == ["R6-7"]


def test_katakana_finds_hiragana(client: TestClient) -> None:
    # ふるさと納税 is written in hiragana in R6-33 and R7-25.
    assert codes(client, "フルサト") == codes(client, "ふるさと") == ["R6-33", "R7-25"]


# --- short words and literal wildcards -------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("車", ["R6-7"]),
        ("ＤＸ", ["R7-11"]),
        ("dx", ["R7-11"]),
        ("車 dx", []),
        ("車 かーど", ["R6-7"]),
        ("X 旧", ["R7-10"]),
    ],
)
def test_words_of_one_and_two_characters_are_found(
    client: TestClient, q: str, found: list[str]
) -> None:
    assert codes(client, q) == found


@pytest.mark.parametrize("q", ["%", "_", "%%", "R6_7", "R%7", "\\", "デジ%ル", "デジ_ル"])
def test_percent_and_underscore_match_only_themselves(client: TestClient, q: str) -> None:
    assert codes(client, q) == []


def test_percent_and_underscore_are_found_where_they_are_written(api: Api) -> None:
    measure = api.client.get(f"{API}/measures", params={"limit": 1}).json()["items"][0]
    created = api.client.post(
        f"{API}/initiatives",
        json={"measure_id": measure["id"], "code": "R7-90", "title": "達成率100%_確認"},
        headers=api.editor,
    )
    assert created.status_code == 201, created.text
    assert codes(api.client, "100%") == ["R7-90"]
    assert codes(api.client, "%_") == ["R7-90"]
    assert codes(api.client, "0%_確") == ["R7-90"]
    assert codes(api.client, "1_0") == []
    assert codes(api.client, "10%確") == []


def test_an_edit_is_found_at_once(api: Api) -> None:
    initiative = api.client.get(f"{API}/initiatives", params={"code": "R7-10"}).json()["items"][0]
    changed = api.client.patch(
        f"{API}/initiatives/{initiative['id']}",
        json={"description": "ポータルサイトで配信"},
        headers=api.editor,
    )
    assert changed.status_code == 200, changed.text
    assert codes(api.client, "ぽーたる 災害") == ["R7-10"]
    assert codes(api.client, "フェイスブック") == []


# --- policies and measures -------------------------------------------------------------------


def test_policies_are_searched_in_title_and_focus(client: TestClient) -> None:
    assert titles(client, "/policies", "質を高める") == [
        "行政組織の質を高める",
        "共創の質を高める",
        "財政基盤の質を高める",
    ]
    # ヒト is in the focus of policies 1 and 2; ひと finds it too.
    assert titles(client, "/policies", "ひと") == ["行政組織の質を高める", "共創の質を高める"]
    assert titles(client, "/policies", "ヒト 連携\u3000共創") == ["共創の質を高める"]
    assert titles(client, "/policies", "%") == []


def test_measures_are_searched_in_title(client: TestClient) -> None:
    assert titles(client, "/measures", "連携") == [
        "民間の創意工夫を活用する官民連携の推進",
        "自治体間における広域連携の推進",
    ]
    assert titles(client, "/measures", "連携 広域") == ["自治体間における広域連携の推進"]
    assert titles(client, "/measures", "ｄｘ") == ["働き方のDXと機能的な組織運営"]


def test_measures_q_keeps_the_filters_and_pages(client: TestClient) -> None:
    policy = ok(client.get(f"{API}/policies", params={"q": "共創"}))["items"][0]
    assert titles(client, "/measures", "推進", policy_id=policy["id"]) == [
        "多様な主体との協働の推進",
        "民間の創意工夫を活用する官民連携の推進",
        "自治体間における広域連携の推進",
    ]
    first = client.get(f"{API}/measures", params={"q": "推進", "limit": 1})
    body = ok(first)
    assert body["total"] == 3 and len(body["items"]) == 1
    assert 'rel="next"' in first.headers["link"]


def test_a_renamed_measure_is_found_by_its_new_title(api: Api) -> None:
    measure = api.client.get(f"{API}/measures", params={"q": "広域"}).json()["items"][0]
    changed = api.client.patch(
        f"{API}/measures/{measure['id']}", json={"title": "圏域のネットワーク"}, headers=api.editor
    )
    assert changed.status_code == 200, changed.text
    assert titles(api.client, "/measures", "ねっとわーく") == ["圏域のネットワーク"]
    assert titles(api.client, "/measures", "広域") == []


@pytest.mark.parametrize("path", ["/initiatives", "/policies", "/measures"])
def test_a_q_too_long_is_422(client: TestClient, path: str) -> None:
    body = assert_problem(client.get(f"{API}{path}", params={"q": "あ" * 201}), 422)
    assert body["errors"][0]["loc"] == ["query", "q"]


@pytest.mark.parametrize("path", ["/initiatives", "/policies", "/measures"])
def test_an_empty_q_filters_nothing(client: TestClient, path: str) -> None:
    every = ok(client.get(f"{API}{path}"))["total"]
    assert ok(client.get(f"{API}{path}", params={"q": ""}))["total"] == every
    assert ok(client.get(f"{API}{path}", params={"q": "\u3000"}))["total"] == every


# --- the migration --------------------------------------------------------------------------


def test_the_migration_writes_the_keys_of_rows_already_stored(
    fresh_url: str, make_client: Any
) -> None:
    """A database the previous revision wrote: its keys kept katakana as written, and its
    policies and measures had none. Upgraded, everything is found as it is written now."""
    config = migrate.alembic_config(fresh_url)
    command.downgrade(config, "84b8470ed3a2")
    engine = create_engine(fresh_url)
    with engine.connect() as connection:
        key = connection.scalar(text("SELECT search_text FROM initiatives WHERE code = 'R6-7'"))
    engine.dispose()
    assert key is not None and key.startswith("r6-7\n") and "カード" in key
    command.upgrade(config, "head")
    with make_client(fresh_url) as client:
        assert codes(client, "かーど") == ["R6-7"]
        assert codes(client, "デジタル 市民") == ["R7-1"]
        assert titles(client, "/measures", "でぃーえっくす dx") == []
        assert titles(client, "/measures", "dx") == ["働き方のDXと機能的な組織運営"]
        assert titles(client, "/policies", "ひと 共創") == ["共創の質を高める"]


# --- GET /search ----------------------------------------------------------------------------


def search(client: TestClient, q: str, **params: Any) -> Item:
    return ok(client.get(f"{API}/search", params={"q": q, "limit": 500, **params}))


def hits(client: TestClient, q: str, **params: Any) -> list[tuple[str, str]]:
    """(kind, code or title) of every hit, in the order given."""
    body = search(client, q, **params)
    assert body["total"] == len(body["items"])
    return [(hit["kind"], hit["code"] or hit["title"]) for hit in body["items"]]


def test_search_finds_every_kind_best_first(client: TestClient) -> None:
    assert hits(client, "連携") == [
        # A word in the title: measures, then initiatives.
        ("measure", "民間の創意工夫を活用する官民連携の推進"),
        ("measure", "自治体間における広域連携の推進"),
        ("initiative", "R6-19"),
        ("initiative", "R6-20"),
        # Elsewhere: the policy's focus, descriptions, then evaluations' results.
        ("policy", "共創の質を高める"),
        ("initiative", "R7-18"),
        ("initiative", "R7-19"),
        ("initiative", "R7-25"),
        ("evaluation", "R6-19"),
        ("evaluation", "R6-20"),
    ]


def test_a_word_in_the_code_ranks_first(client: TestClient) -> None:
    found = hits(client, "1")
    in_code = [code for kind, code in found if kind == "initiative" and "1" in code]
    assert in_code == ["R6-10", "R6-13", "R6-19", "R7-1", "R7-10", "R7-11", "R7-14", "R7-18"] + [
        "R7-19"
    ]
    assert found[: len(in_code)] == [("initiative", code) for code in in_code]
    assert ("initiative", "R7-23") in found[len(in_code) :]  # 1 only in its description


def test_a_hit_says_what_it_is_with_a_snippet_around_the_word(client: TestClient) -> None:
    body = search(client, "伝票")
    assert body["total"] == 2
    initiative, evaluation = body["items"]
    r6_7 = ok(client.get(f"{API}/initiatives", params={"code": "R6-7"}))["items"][0]
    assert initiative == {
        "kind": "initiative",
        "id": r6_7["id"],
        "plan_id": r6_7["plan_id"],
        "code": "R6-7",
        "title": "公用車給油事務へのクレジットカードの導入",
        "snippet": initiative["snippet"],
        "initiative_id": r6_7["id"],
        "fiscal_year": None,
        "fiscal_year_label": None,
    }
    assert evaluation["kind"] == "evaluation"
    assert evaluation["id"] == r6_7["latest_evaluation"]["id"]
    assert evaluation["initiative_id"] == r6_7["id"]
    assert (evaluation["code"], evaluation["fiscal_year"]) == ("R6-7", 2024)
    assert evaluation["fiscal_year_label"] == "令和6年度"
    # 伝票 is only in the result: both snippets are cut from it, around the word.
    for hit in (initiative, evaluation):
        assert "伝票" in hit["snippet"]
        assert len(hit["snippet"]) <= 62
        assert hit["snippet"].endswith("…")


def test_a_snippet_shows_the_text_as_written(client: TestClient) -> None:
    (hit,) = search(client, "かーど", kind="initiative")["items"]
    assert "クレジットカード" in hit["snippet"]
    (policy,) = search(client, "ひと 共創")["items"]
    assert policy["kind"] == "policy" and policy["code"] is None
    assert policy["snippet"] == "共創の質を高める"


def test_search_takes_every_word_as_the_lists_do(client: TestClient) -> None:
    assert hits(client, "デジタル\u3000市民") == [("initiative", "R7-1")]
    assert hits(client, "%") == hits(client, "_") == []
    initiatives = [code for kind, code in hits(client, "デジタル") if kind == "initiative"]
    assert initiatives == codes(client, "デジタル")


def test_search_is_paged_like_every_list(client: TestClient) -> None:
    every = hits(client, "連携")
    first = client.get(f"{API}/search", params={"q": "連携", "limit": 4})
    body = ok(first)
    assert (body["total"], body["limit"], body["offset"]) == (10, 4, 0)
    assert [(h["kind"], h["code"] or h["title"]) for h in body["items"]] == every[:4]
    assert 'rel="next"' in first.headers["link"]
    last = ok(client.get(f"{API}/search", params={"q": "連携", "limit": 4, "offset": 8}))
    assert [(h["kind"], h["code"] or h["title"]) for h in last["items"]] == every[8:]


def test_search_filters_by_kind_and_plan(client: TestClient) -> None:
    assert hits(client, "連携", kind="evaluation") == [
        ("evaluation", "R6-19"),
        ("evaluation", "R6-20"),
    ]
    plan_id = ok(client.get(f"{API}/plans"))["items"][0]["id"]
    assert hits(client, "連携", plan_id=plan_id) == hits(client, "連携")
    assert hits(client, "連携", plan_id=plan_id + 1000) == []


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({}, ["query", "q"]),
        ({"q": ""}, ["query", "q"]),
        ({"q": " \u3000 "}, ["query", "q"]),
        ({"q": "あ" * 201}, ["query", "q"]),
        ({"q": "a\x00"}, ["query", "q"]),
        ({"q": "連携", "kind": "plan"}, ["query", "kind"]),
        ({"q": "連携", "limit": "501"}, ["query", "limit"]),
    ],
)
def test_a_bad_search_is_422(client: TestClient, params: dict[str, str], loc: list[str]) -> None:
    body = assert_problem(client.get(f"{API}/search", params=params), 422)
    assert body["errors"][0]["loc"] == loc


def test_search_is_in_the_openapi_schema(client: TestClient) -> None:
    operation = ok(client.get("/openapi.json"))["paths"]["/api/v1/search"]["get"]
    assert operation["operationId"] == "search"
    assert operation["tags"] == ["search"]
    assert {"200", "422"} <= set(operation["responses"])
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"q", "plan_id", "kind", "limit", "offset"} <= names


# --- the indexes stay in step with every write -----------------------------------------------


def test_every_write_is_searchable_at_once_and_a_deletion_is_gone(api: Api) -> None:
    client, editor = api.client, api.editor
    r6_7 = client.get(f"{API}/initiatives", params={"code": "R6-7"}).json()["items"][0]
    # An evaluation's result, written and rewritten.
    path = f"{API}/initiatives/{r6_7['id']}/evaluations/R7"
    for result in ("ペーパーレス化を推進", "キャッシュレス決済を全庁に拡大"):
        written = client.put(path, json={"status": "achieved", "result": result}, headers=editor)
        assert written.status_code in (200, 201), written.text
    assert hits(client, "きゃっしゅれす", kind="evaluation") == [("evaluation", "R6-7")]
    assert hits(client, "ぺーぱーれす") == []
    # A bulk upload of initiatives.
    bulk = client.post(
        f"{API}/bulk/initiatives",
        params={"plan_id": r6_7["plan_id"]},
        json={"items": [{"code": "R6-7", "title": "公用車のキャッシュレス給油"}]},
        headers=editor,
    )
    assert bulk.status_code == 200, bulk.text
    assert codes(client, "きゃっしゅれす 給油") == ["R6-7"]
    assert hits(client, "公用車の", kind="initiative") == [("initiative", "R6-7")]
    assert hits(client, "給油事務") == []  # the old title
    # Deleted with its evaluations (ON DELETE CASCADE): found nowhere.
    deleted = client.delete(
        f"{API}/initiatives/{r6_7['id']}", params={"cascade": "true"}, headers=editor
    )
    assert deleted.status_code == 204, deleted.text
    assert hits(client, "きゃっしゅれす") == []
    assert hits(client, "伝票") == []
    if api.engine.dialect.name == "sqlite":
        with api.engine.connect() as connection:
            for fts in ("initiatives_fts", "evaluations_fts"):
                connection.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')"))
