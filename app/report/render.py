"""The progress report as one HTML document, in the order and the words of the city's
(seed/source/kanazawa-plan-progress-r6.txt), written with the standard library only.

Every value goes through html.escape; the page has no script. On screen it links to its PDF
and the dashboard; printed (and as the PDF) it is A4 (app/dashboard/static/report.css).
"""

from collections.abc import Iterator
from html import escape
from itertools import groupby
from typing import Any

from app.reads import Row
from app.report.service import ProgressReport
from app.wareki import fiscal_year_label, period_label

# The document's own heading of its section 2 (a report stores its document's name as title).
ACHIEVEMENT_HEADING = "取組事項の達成率"
STATUS_LABELS = {"achieved": "達成", "not_achieved": "未達成", "unconfirmed": "数値未確定"}


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1f}%"


def _policy_name(title: str, focus: str | None) -> str:
    return f"{title}（{focus}）" if focus else title


def render_report(doc: ProgressReport, *, stylesheet: str | None, inline_css: str = "") -> str:
    """The report's HTML: linking `stylesheet` (the served page), or with `inline_css` in a
    <style> element (the file Chromium prints, which has no server to ask)."""
    plan = doc.plan
    title = doc.report["title"]  # the published document's name (金沢市…の取組状況等について)
    style = (
        f'<link rel="stylesheet" href="{_e(stylesheet)}">'
        if stylesheet
        else f"<style>{inline_css}</style>"
    )
    parts = [
        "<!doctype html>",
        '<html lang="ja">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}（{_e(doc.label)}）</title>",
        style,
        "</head>",
        "<body>",
        '<header class="report-head">',
        f'<p class="doc-meta">{_e(plan["municipality_name"])}・{_e(doc.label)}</p>',
        f"<h1>{_e(title)}</h1>",
        '<nav class="screen-only" aria-label="この報告書">',
        f'<a href="{doc.fiscal_year}.pdf">PDF をダウンロード</a>',
        '<a href="/">ダッシュボードへ</a>',
        "</nav>",
        "</header>",
        "<main>",
        *_overview(doc),
        *_achievement(doc),
        *_highlights(doc, 3, doc.implemented, "実施"),
        *_highlights(doc, 4, doc.added, "追加"),
        "</main>",
        *_footer(doc),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _overview(doc: ProgressReport) -> Iterator[str]:
    """1. <plan>の概要: 基本理念, 推進期間, 基本方針 (each with its measures)."""
    plan = doc.plan
    start, end = plan["start_fiscal_year"], plan["end_fiscal_year"]
    yield '<section class="overview">'
    yield f"<h2>1. {_e(plan['title'])}の概要</h2>"
    if plan["philosophy"]:
        yield "<h3>(1) 基本理念</h3>"
        yield f'<p class="philosophy">{_e(plan["philosophy"])}</p>'
    yield "<h3>(2) 推進期間</h3>"
    yield f"<p>{_e(period_label(start, end))}（{end - start + 1}年間）</p>"
    yield "<h3>(3) 基本方針</h3>"
    yield '<ol class="policies">'
    for policy in doc.policies:
        yield "<li>"
        name = _policy_name(policy["title"], policy["focus"])
        yield f'<p class="policy">{policy["number"]} {_e(name)}</p>'
        own = [measure for measure in doc.measures if measure["policy_id"] == policy["id"]]
        if own:
            yield '<ul class="measures">'
            for measure in own:
                yield f"<li>（{measure['number']}）{_e(measure['title'])}</li>"
            yield "</ul>"
        yield "</li>"
    yield "</ol>"
    yield "</section>"


def _achievement(doc: ProgressReport) -> Iterator[str]:
    """2. The published table (the city's figures), the computed ones beside them where they
    differ, and the statistics' caveats."""
    stats = doc.achievement
    published = stats["published"]
    total = published["total"]
    computed = {policy["policy_id"]: policy for policy in stats["policies"]}
    names = {policy["id"]: policy["title"] for policy in doc.policies}
    differ = not stats["matches_published"]
    marked = [line for line in published["policies"] if line["unconfirmed"]]
    marks = {
        line["policy_id"]: "※" if len(marked) == 1 else f"※{index}"
        for index, line in enumerate(marked, start=1)
    }

    yield '<section class="achievement">'
    yield f"<h2>2. {ACHIEVEMENT_HEADING}</h2>"
    yield (
        f'<p class="summary">達成率 {_rate(total["rate"])} (実施計画 {total["items"]} 項目中'
        f" {total['achieved']} 項目が達成済)</p>"
    )
    # On a phone the table scrolls in its own box (reachable by keyboard), not the page.
    yield '<div class="table-scroll" tabindex="0" role="region" aria-label="達成率の表">'
    yield '<table class="rates">'
    yield f"<caption>{_e(doc.label)}　基本方針別の達成率</caption>"
    yield "<thead><tr>"
    yield '<th scope="col">基本方針</th><th scope="col">項目数(A)</th>'
    yield '<th scope="col">達成(B)</th><th scope="col">達成率(B/A)</th>'
    if differ:
        yield '<th scope="col" class="computed">計算値 項目数</th>'
        yield '<th scope="col" class="computed">計算値 達成</th>'
        yield '<th scope="col" class="computed">計算値 達成率</th>'
    yield "</tr></thead>"
    yield "<tbody>"
    for line in published["policies"]:
        name = f"{line['number']} {names.get(line['policy_id'], '')}"
        mine = computed.get(line["policy_id"])
        yield _table_row(name, line, marks.get(line["policy_id"], ""), mine, differ)
    # 合計 is the table's last row, not a <tfoot>, which print repeats on every page.
    yield _table_row("合計", total, "", stats["total"], differ).replace(
        "<tr>", '<tr class="total">'
    )
    yield "</tbody>"
    yield "</table>"
    yield "</div>"
    for line in marked:
        yield (
            f'<p class="note">{marks[line["policy_id"]]}うち {line["unconfirmed"]}'
            " 項目は数値未確定</p>"
        )
    if differ:
        yield (
            '<p class="computed-note">計算値：このサービスに登録されている評価から計算した値'
            "（公表値と異なる行のみ表示）。達成率 = 達成 ÷ 評価した項目 × 100"
            "（小数第2位を四捨五入）、数値未確定の項目は分母に含みます。</p>"
        )
        yield from _caveats(stats.get("caveats"))
    yield "</section>"


def _agree(published: Row, computed: Row | None) -> bool:
    if computed is None:
        return False
    return all(published[name] == computed[name] for name in ("items", "achieved", "unconfirmed"))


def _table_row(name: str, published: Row, mark: str, computed: Row | None, differ: bool) -> str:
    cells = [
        f'<th scope="row">{_e(name)}</th>',
        f"<td>{published['items']} 項目{mark}</td>",
        f"<td>{published['achieved']} 項目</td>",
        f'<td class="rate">{_rate(published["rate"])}</td>',
    ]
    if differ:
        if computed is None:
            cells.append('<td class="computed" colspan="3">登録なし</td>')
        elif _agree(published, computed):
            cells.append('<td class="computed" colspan="3">公表値と同じ</td>')
        else:
            cells += [
                f'<td class="computed">{computed["items"]} 項目</td>',
                f'<td class="computed">{computed["achieved"]} 項目</td>',
                f'<td class="computed rate">{_rate(computed["rate"])}</td>',
            ]
    return "<tr>" + "".join(cells) + "</tr>"


def _caveats(caveats: Any) -> Iterator[str]:
    """The API's caveats about its statistics (a list of sentences), when it gives them."""
    if not isinstance(caveats, list) or not caveats:
        return
    yield '<div class="caveats"><p class="caveats-head">計算値についての注意</p><ul>'
    for caveat in caveats:
        yield f"<li>{_e(caveat)}</li>"
    yield "</ul></div>"


def _highlights(doc: ProgressReport, number: int, rows: list[Row], verb: str) -> Iterator[str]:
    """3. <year>に実施した主な取組事項 / 4. <year>に追加した主な取組事項: by policy and
    measure, each item with its page, code and text."""
    if not rows:
        return
    year = doc.fiscal_year if number == 3 else max(row["fiscal_year"] for row in rows)
    kind = "implemented" if number == 3 else "added"
    yield f'<section class="highlights {kind}">'
    yield f"<h2>{number}. {_e(fiscal_year_label(year))}に{verb}した主な取組事項</h2>"
    for (policy_number, policy_title, focus), in_policy in groupby(rows, key=_policy_of):
        name = _policy_name(policy_title, focus)
        yield f'<h3 class="policy">方針{policy_number} {_e(name)}</h3>'
        for (measure_number, measure_title), items in groupby(in_policy, key=_measure_of):
            yield f"<h4>（{measure_number}）{_e(measure_title)}</h4>"
            for row in items:
                yield from _item(row, kind)
    yield "</section>"


def _policy_of(row: Row) -> tuple[int, str, str | None]:
    return row["policy_number"], row["policy_title"], row["policy_focus"]


def _measure_of(row: Row) -> tuple[int, str]:
    return row["measure_number"], row["measure_title"]


def _item(row: Row, kind: str) -> Iterator[str]:
    target = "【数値目標】" if row["numeric_target"] else ""
    page = f"P{row['plan_page']}, " if row["plan_page"] is not None else ""
    yield '<div class="item">'
    yield f'<p class="item-title">{_e(row["title"])}{target} [{page}№.{_e(row["code"])}]</p>'
    text = row["result"] if kind == "implemented" and row["result"] else row["description"]
    if text:
        for paragraph in str(text).splitlines():
            yield f"<p>{_e(paragraph)}</p>"
    if kind == "implemented":
        status = STATUS_LABELS.get(row["status"] or "", "記載なし")
        yield f'<p class="status">評価（登録データ）：{status}</p>'
    yield "</div>"


def _footer(doc: ProgressReport) -> Iterator[str]:
    plan = doc.plan
    yield '<footer class="report-foot">'
    if plan["attribution"]:
        yield f"<p>{_e(plan['attribution'])}</p>"
    yield (
        "<p>この文書は、このサービスに登録されたデータ（計画・基本方針・施策・取組事項・"
        "評価・公表値）から作成したものです。</p>"
    )
    if doc.report["source"]:
        yield f"<p>公表値の出典：{_e(doc.report['source'])}</p>"
    if plan["license"]:
        yield f"<p>ライセンス：{_e(plan['license'])}</p>"
    yield "</footer>"
