"""Check the Kanazawa seed file against the text of the document it was transcribed from.

Standard library only: the seed TOML and the source text are read directly, no app imports.
Every fact in the seed must be found in the source text (or be explicitly marked as coming from
outside the document / inferred), and every item the text shows must be in the seed.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seed" / "kanazawa-2023-2026.toml"
SOURCE = ROOT / "seed" / "source" / "kanazawa-plan-progress-r6.txt"

DOCUMENT_TITLE = "金沢市行政経営プランの取組状況等について"
SECTION3 = "3. 令和6年度に実施した主な取組事項"
SECTION4 = "4. 令和7年度に追加した主な取組事項"
SECTION2 = "2. 取組事項の達成率"

# "[P38, №.R6-7]" in the raw text; "[P38, No.R6-7]" after NFKC. Spaces are tolerated.
ITEM_RAW = re.compile(r"\[P\s*(\d+)\s*,\s*(?:№|No)\.?\s*(R\d+-\d+)\s*\]")
ITEM_NFKC = re.compile(r"\[P\s*(\d+)\s*,\s*No\.?\s*(R\d+-\d+)\s*\]")
SECTION_HEADING = re.compile(r"(\d)\.\s*令和(\d+|元)年度に(実施|追加)した主な取組事項")


def nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def reiwa(fy: int) -> str:
    n = fy - 2018
    return "元" if n == 1 else str(n)


def fy_from_reiwa(n: str) -> int:
    return 2019 if n == "元" else 2018 + int(n)


def rate(achieved: int, items: int) -> Decimal:
    return (Decimal(achieved) * 100 / Decimal(items)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )


@cache
def seed() -> dict[str, Any]:
    with SEED.open("rb") as f:
        return tomllib.load(f)


@cache
def text() -> str:
    return SOURCE.read_text(encoding="utf-8")


@cache
def lines() -> tuple[str, ...]:
    return tuple(text().splitlines())


def initiatives() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = seed()["initiatives"]
    return items


def by_code() -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in initiatives()}


def next_paragraph(index: int) -> str:
    """The first non-empty line after line `index`."""
    for raw in lines()[index + 1 :]:
        if raw.strip():
            return raw
    raise AssertionError(f"no paragraph after line {index + 1}")


@cache
def item_lines() -> dict[str, tuple[int, str, re.Match[str]]]:
    """code -> (line index, raw line, raw match) for every item line of the text, in order."""
    found: dict[str, tuple[int, str, re.Match[str]]] = {}
    for idx, raw in enumerate(lines()):
        m = ITEM_RAW.search(raw)
        # the NFKC form must be recognised too (the search key the app will use)
        assert bool(m) == bool(ITEM_NFKC.search(nfkc(raw))), raw
        if m:
            code = m.group(2)
            assert code not in found, f"code {code} appears twice in the text"
            found[code] = (idx, raw, m)
    return found


def clean_title(raw_line: str, match: re.Match[str]) -> str:
    """What a careful transcriber keeps of an item line: no bullets, no **, no 【数値目標】."""
    head = raw_line[: match.start()]
    head = head.replace("**", "")
    head = head.strip()
    if head.startswith("- "):
        head = head[2:].lstrip()
    if head.startswith("・"):
        head = head[1:].lstrip()
    head = head.replace("【数値目標】", "")
    return head.strip()


@cache
def walk_sections() -> dict[str, Any]:
    """Walk sections 3 and 4 line by line, tracking the current policy and measure.

    Returns {"items": {code: (fy, policy, measure)},
             "policies": {fy: {n: (title, focus)}},
             "measures": {fy: {(policy, n): title}}}  (titles NFKC-normalised).
    """
    items: dict[str, tuple[int, int, int]] = {}
    policies: dict[int, dict[int, tuple[str, str]]] = {}
    measures: dict[int, dict[tuple[int, int], str]] = {}
    fy = 0
    policy: int | None = None
    measure: int | None = None
    prev = ""
    awaiting_policy_title = False
    started = False
    for raw in lines():
        s = nfkc(raw).strip()
        if not s:
            continue
        h = SECTION_HEADING.fullmatch(s)
        if h:
            started = True
            fy = fy_from_reiwa(h.group(2))
            policy = measure = None
            policies[fy] = {}
            measures[fy] = {}
            prev = s
            continue
        if not started:
            continue
        item = ITEM_NFKC.search(s)
        if item:
            assert policy is not None and measure is not None, f"item outside a heading: {raw}"
            items[item.group(2)] = (fy, policy, measure)
        elif s == "方針":
            pass
        elif prev == "方針" and re.fullmatch(r"\d+", s):
            # "方針\n1\n\n行政組織の質を高める（…）" (section 3's layout)
            policy, measure = int(s), None
            awaiting_policy_title = True
        elif awaiting_policy_title and (m := re.fullmatch(r"(.+?)\((.+)\)", s)):
            assert policy is not None
            policies[fy][policy] = (m.group(1), m.group(2))
            awaiting_policy_title = False
        elif m := re.fullmatch(r"(\d+)\s+(.+?)\((.+)\)", s):
            # "1 行政組織の質を高める（…）" (section 4's layout and later policies)
            policy, measure = int(m.group(1)), None
            policies[fy][policy] = (m.group(2), m.group(3))
            awaiting_policy_title = False
        elif m := re.fullmatch(r"\((\d+)\)\s*(.+)", s):
            assert policy is not None, f"measure heading outside a policy: {raw}"
            measure = int(m.group(1))
            measures[fy][(policy, measure)] = m.group(2)
        prev = s
    return {"items": items, "policies": policies, "measures": measures}


# --------------------------------------------------------------------------- source and header


def test_source_text_is_the_document() -> None:
    non_empty = [raw for raw in lines() if raw.strip()]
    assert non_empty[0] == DOCUMENT_TITLE
    for heading in (SECTION2, SECTION3, SECTION4):
        assert heading in lines()


def test_header_comment_names_the_document_and_marks_outside_values() -> None:
    raw = SEED.read_text(encoding="utf-8").splitlines()
    header = []
    for line in raw:
        if not line.startswith("#"):
            break
        header.append(line)
    header_text = "\n".join(header)
    assert DOCUMENT_TITLE in header_text
    for key in ("municipality_code", "license", "report.fiscal_year", "status"):
        assert key in header_text, f"legend does not mention {key}"

    def commented(prefix: str) -> list[str]:
        return [line for line in raw if line.strip().startswith(prefix)]

    for prefix in ("municipality_code =", "license =", 'status = "achieved"'):
        found = commented(prefix)
        assert found, prefix
        assert all("#" in line for line in found), f"{prefix} line(s) lack a marking comment"
    report_at = raw.index("[report]")
    fy_line = next(line for line in raw[report_at:] if line.strip().startswith("fiscal_year ="))
    assert "#" in fy_line and "infer" in fy_line.lower()


# --------------------------------------------------------------------------- plan


def test_plan_keys_and_values() -> None:
    plan = seed()["plan"]
    assert set(plan) == {
        "slug",
        "title",
        "municipality_code",
        "municipality_name",
        "philosophy",
        "start_fiscal_year",
        "end_fiscal_year",
        "source",
        "license",
        "license_url",
        "attribution",
        "provenance",
    }
    # What the document states, and the code and licence it does not (the project's own).
    assert plan["provenance"] == {
        "title": "stated",
        "municipality_code": "external",
        "municipality_name": "stated",
        "philosophy": "stated",
        "start_fiscal_year": "stated",
        "end_fiscal_year": "stated",
        "license": "external",
    }
    assert plan["slug"] == f"kanazawa-{plan['start_fiscal_year']}-{plan['end_fiscal_year']}"
    assert plan["title"] == "金沢市行政経営プラン"
    assert plan["title"] in text()
    assert plan["municipality_name"] == "金沢市"
    assert text().count(plan["municipality_name"]) > 0
    assert plan["municipality_code"] == "172014"
    assert isinstance(plan["municipality_code"], str)
    assert plan["license"] == "CC-BY-4.0"
    assert plan["license_url"] == "https://creativecommons.org/licenses/by/4.0/deed.ja"
    assert f"「{DOCUMENT_TITLE}」" in plan["attribution"]
    assert plan["attribution"].startswith("出典")
    assert f"「{DOCUMENT_TITLE}」" in plan["source"]
    # the source must say that the code and licence are not from the document
    assert "172014" in plan["source"] and "記載がなく" in plan["source"]


def test_plan_philosophy_is_the_basic_principle() -> None:
    plan = seed()["plan"]
    idx = lines().index("(1) 基本理念")
    assert next_paragraph(idx) == plan["philosophy"]


def test_plan_period() -> None:
    plan = seed()["plan"]
    start, end = plan["start_fiscal_year"], plan["end_fiscal_year"]
    assert (start, end) == (2023, 2026)
    period = f"令和{reiwa(start)}年度～令和{reiwa(end)}年度"
    assert period in text()
    idx = lines().index("(2) 推進期間")
    m = re.match(r"令和(\d+|元)年度～令和(\d+|元)年度（(\d+)年間）", next_paragraph(idx))
    assert m, next_paragraph(idx)
    assert (fy_from_reiwa(m.group(1)), fy_from_reiwa(m.group(2))) == (start, end)
    assert end - start + 1 == int(m.group(3))


# --------------------------------------------------------------------------- policies, measures


def test_three_policies_with_focus_as_in_the_text() -> None:
    policies = seed()["policies"]
    assert [p["number"] for p in policies] == [1, 2, 3]
    normalized = nfkc(text())
    for p in policies:
        assert set(p) == {"number", "title", "focus", "measures"}
        for bracket in "()（）":
            assert bracket not in p["focus"], f"policy {p['number']} focus keeps a bracket"
        assert nfkc(f"{p['number']} {p['title']}（{p['focus']}）") in normalized
        # section 1's list of basic policies
        assert nfkc(f"- {p['number']} {p['title']}（{p['focus']}）") in [nfkc(x) for x in lines()]
    assert policies[0]["focus"] == "ヒトの育成と情報発信の強化"


def test_nine_measures_as_in_the_text() -> None:
    normalized = nfkc(text())
    count = 0
    for p in seed()["policies"]:
        assert [m["number"] for m in p["measures"]] == [1, 2, 3]
        for m in p["measures"]:
            assert set(m) == {"number", "title"}
            assert nfkc(f"（{m['number']}）{m['title']}") in normalized
            count += 1
    assert count == 9


def test_sections_3_and_4_agree_with_the_policies_and_measures() -> None:
    walked = walk_sections()
    expected_policies = {
        p["number"]: (nfkc(p["title"]), nfkc(p["focus"])) for p in seed()["policies"]
    }
    expected_measures = {
        (p["number"], m["number"]): nfkc(m["title"])
        for p in seed()["policies"]
        for m in p["measures"]
    }
    assert sorted(walked["policies"]) == [2024, 2025]
    for fy in (2024, 2025):
        assert walked["policies"][fy] == expected_policies, fy
        assert walked["measures"][fy] == expected_measures, fy


# --------------------------------------------------------------------------- initiatives


def test_eighteen_initiatives_in_document_order() -> None:
    inits = initiatives()
    codes = [i["code"] for i in inits]
    assert len(codes) == 18
    assert len(set(codes)) == 18
    assert codes == list(item_lines()), (
        "initiatives must be exactly the items of the text, in order"
    )
    r6 = [i for i in inits if i["code"].startswith("R6-")]
    r7 = [i for i in inits if i["code"].startswith("R7-")]
    assert len(r6) == 9 and len(r7) == 9
    assert inits[:9] == r6 and inits[9:] == r7
    assert all(i["fiscal_year"] == 2024 for i in r6)
    assert all(i["fiscal_year"] == 2025 for i in r7)
    for i in inits:
        assert re.fullmatch(r"R\d+-\d+", i["code"]), i["code"]
        assert i["fiscal_year"] == fy_from_reiwa(i["code"][1:].split("-")[0])


def test_initiative_keys_nothing_invented() -> None:
    for i in initiatives():
        base = {"code", "policy", "measure", "title", "plan_page", "fiscal_year", "numeric_target"}
        if i["code"].startswith("R6-"):
            assert set(i) == base | {"evaluation"}, i["code"]
            expected = {"fiscal_year", "status", "result", "source", "provenance"}
            if i["code"] == "R6-33":
                expected.discard("status")
            assert set(i["evaluation"]) == expected, i["code"]
        else:
            assert set(i) == base | {"description"}, i["code"]
        assert isinstance(i["plan_page"], int) and isinstance(i["numeric_target"], bool)


def test_initiative_line_page_and_title() -> None:
    lines_by_code = item_lines()
    for i in initiatives():
        idx, raw, m = lines_by_code[i["code"]]
        line_nfkc = nfkc(raw)
        variants = [
            f"[P{i['plan_page']}, No.{i['code']}]",
            f"[P{i['plan_page']},No.{i['code']}]",
            f"[P{i['plan_page']}, No. {i['code']}]",
        ]
        assert any(v in line_nfkc for v in variants), (i["code"], raw)
        assert int(m.group(1)) == i["plan_page"], i["code"]
        # the title, verbatim, on the same line before the bracket
        pos = raw.find(i["title"])
        assert 0 <= pos < m.start(), (i["code"], i["title"], raw)
        # and nothing but artefacts around it
        assert clean_title(raw, m) == i["title"], (i["code"], clean_title(raw, m))


def test_numeric_target_flag() -> None:
    lines_by_code = item_lines()
    flagged = []
    for i in initiatives():
        raw = lines_by_code[i["code"]][1]
        assert i["numeric_target"] is ("【数値目標】" in raw), i["code"]
        if i["numeric_target"]:
            flagged.append(i["code"])
    assert flagged == ["R6-33", "R7-11"]


def test_titles_have_no_artefacts() -> None:
    for i in initiatives():
        t = i["title"]
        assert t and t == t.strip(), i["code"]
        assert "【" not in t and "】" not in t, i["code"]
        assert not t.startswith("・"), i["code"]
        assert not t.startswith("-"), i["code"]
        assert "*" not in t, i["code"]
        assert "[" not in t and "№" not in t, i["code"]
    # a ・ inside a title is real text and must be kept
    assert by_code()["R7-18"]["title"] == "「木の文化都市・金沢」専用サイトの創設"
    assert by_code()["R6-30"]["title"] == "南部地区における教育・福祉施設の再整備"


def test_narratives_are_the_paragraph_after_the_item() -> None:
    lines_by_code = item_lines()
    for i in initiatives():
        idx = lines_by_code[i["code"]][0]
        paragraph = next_paragraph(idx)
        assert not ITEM_RAW.search(paragraph), f"{i['code']}: no narrative under the item"
        if i["code"].startswith("R6-"):
            narrative = i["evaluation"]["result"]
        else:
            narrative = i["description"]
        assert narrative in text(), i["code"]
        assert narrative == paragraph, i["code"]


def test_evaluations() -> None:
    for i in initiatives():
        if not i["code"].startswith("R6-"):
            assert "evaluation" not in i, i["code"]
            continue
        ev = i["evaluation"]
        assert ev["fiscal_year"] == 2024 == i["fiscal_year"]
        assert isinstance(ev["source"], str) and ev["source"].strip(), i["code"]
        assert f"「{SECTION3}」" in ev["source"], i["code"]
        # No status of section 3 is stated item by item: each one (or its absence) is inferred.
        assert ev["provenance"] == "inferred", i["code"]
        if i["code"] == "R6-33":
            assert "status" not in ev
            assert "寄附はなく" in ev["result"]  # the narrative reports no result
            assert "寄附はなかった" in ev["source"]
        else:
            assert ev["status"] == "achieved", i["code"]
            assert "推定" in ev["source"], i["code"]


def test_policy_and_measure_from_the_heading_above_each_item() -> None:
    walked = walk_sections()["items"]
    assert set(walked) == set(by_code())
    for i in initiatives():
        fy, policy, measure = walked[i["code"]]
        assert (i["policy"], i["measure"]) == (policy, measure), i["code"]
        assert i["fiscal_year"] == fy, i["code"]
    # every (policy, measure) of an initiative exists in the plan
    known = {(p["number"], m["number"]) for p in seed()["policies"] for m in p["measures"]}
    assert {(i["policy"], i["measure"]) for i in initiatives()} <= known


# --------------------------------------------------------------------------- report


def parse_table() -> tuple[
    dict[int, tuple[str, int, int, bool, Decimal]], tuple[int, int, Decimal]
]:
    rows: dict[int, tuple[str, int, int, bool, Decimal]] = {}
    total = None
    for raw in lines():
        s = nfkc(raw).strip()
        m = re.fullmatch(r"(\d+)\s+(\S+)\t(\d+)\s*項目(※?)\t(\d+)\s*項目\t([\d.]+)%", s)
        if m:
            rows[int(m.group(1))] = (
                m.group(2),
                int(m.group(3)),
                int(m.group(5)),
                bool(m.group(4)),
                Decimal(m.group(6)),
            )
        m = re.fullmatch(r"合計\t(\d+)\s*項目\t(\d+)\s*項目\t([\d.]+)%", s)
        if m:
            total = (int(m.group(1)), int(m.group(2)), Decimal(m.group(3)))
    assert total is not None
    return rows, total


def test_report_lines_match_the_table() -> None:
    report = seed()["report"]
    got = [(r["policy"], r["items"], r["achieved"], r["unconfirmed"]) for r in report["lines"]]
    assert got == [(1, 39, 38, 0), (2, 45, 38, 0), (3, 40, 32, 2)]
    for r in report["lines"]:
        assert set(r) == {"policy", "items", "achieved", "unconfirmed"} | (
            set() if r["unconfirmed"] else {"provenance"}
        )

    rows, total = parse_table()
    titles = {p["number"]: p["title"] for p in seed()["policies"]}
    note = re.search(r"※うち\s*(\d+)\s*項目は数値未確定", text())
    assert note
    assert sorted(rows) == [r["policy"] for r in report["lines"]]
    for r in report["lines"]:
        title, items, achieved, marked, published = rows[r["policy"]]
        assert title == titles[r["policy"]]
        assert (r["items"], r["achieved"]) == (items, achieved)
        assert r["unconfirmed"] == (int(note.group(1)) if marked else 0)
        # A line the ※ note does not mark has an unconfirmed 0 the table leaves unsaid.
        assert r.get("provenance", "stated") == ("stated" if marked else "inferred")
        assert r["unconfirmed"] <= r["items"] - r["achieved"]
        assert rate(r["achieved"], r["items"]) == published

    items_sum = sum(r["items"] for r in report["lines"])
    achieved_sum = sum(r["achieved"] for r in report["lines"])
    assert (items_sum, achieved_sum) == (124, 108)
    assert (items_sum, achieved_sum) == total[:2]
    assert rate(achieved_sum, items_sum) == total[2] == Decimal("87.1")

    headline = re.search(
        r"達成率\s*([\d.]+)%\s*\(実施計画\s*(\d+)\s*項目中\s*(\d+)\s*項目が達成済\)", nfkc(text())
    )
    assert headline
    assert (int(headline.group(2)), int(headline.group(3))) == (items_sum, achieved_sum)
    assert Decimal(headline.group(1)) == rate(achieved_sum, items_sum)
    assert f"{items_sum} 項目中 {achieved_sum} 項目" in text()


def test_report_metadata() -> None:
    report = seed()["report"]
    assert set(report) == {"fiscal_year", "title", "source", "lines", "highlights", "provenance"}
    assert "published_on" not in report
    assert report["fiscal_year"] == 2024
    # The published document's name, which the text's first line is (not section 2's heading).
    assert report["title"] == "金沢市行政経営プランの取組状況等について"
    assert next(line for line in lines() if line.strip()) == report["title"]
    assert report["provenance"] == {
        "fiscal_year": "inferred",
        "title": "stated",
        "published_on": "external",
    }
    assert f"「{SECTION2}」" in report["source"]
    assert "推定" in report["source"]


def test_report_highlights() -> None:
    highlights = seed()["report"]["highlights"]
    for h in highlights:
        assert set(h) == {"code", "section"}
    codes = [i["code"] for i in initiatives()]
    assert [h["code"] for h in highlights] == codes
    for h in highlights:
        assert h["code"] in by_code()
        expected = "implemented" if h["code"].startswith("R6-") else "added"
        assert h["section"] == expected, h["code"]
    walked = walk_sections()["items"]
    for h in highlights:
        fy = walked[h["code"]][0]
        assert h["section"] == ("implemented" if fy == 2024 else "added")
    assert sum(h["section"] == "implemented" for h in highlights) == 9
    assert sum(h["section"] == "added" for h in highlights) == 9
