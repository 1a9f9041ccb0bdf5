"""The progress report regenerated from the data (GET /plans/{id}/report/{year}): the city's
document, fact by fact and in its order, as a page to read and print; its PDF's errors.
The PDF itself, printed by Chromium: tests/test_browser.py."""

import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.report import service as report_service
from app.stats.service import read_achievement
from tests.conftest import StartedClient
from tests.helpers import assert_problem

SOURCE = Path(__file__).resolve().parent.parent / "seed" / "source"
R6_TEXT = SOURCE / "kanazawa-plan-progress-r6.txt"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
BLOCKS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "div", "section", "table",
    "caption", "header", "footer", "main", "nav", "ol", "ul", "title",
}  # fmt: skip


class _Lines(HTMLParser):
    """The text of a page as a reader sees it: a line per block (a table row is one line,
    its cells side by side); nothing of <head> but the title."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self.skip += 1
        if tag in BLOCKS:
            self.flush()
        if tag in ("td", "th"):
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        if tag in BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)

    def flush(self) -> None:
        line = "".join(self.current).strip()
        if line:
            self.lines.append(line)
        self.current = []


def page_lines(html: str) -> list[str]:
    parser = _Lines()
    parser.feed(html)
    parser.flush()
    return parser.lines


def layout_free(line: str) -> str:
    """A line with only its layout taken out: width (NFKC), every space, and the PDF's
    extraction artefacts (a leading "-" or "・" bullet, "**" bold markers)."""
    text = unicodedata.normalize("NFKC", line).replace("**", "")
    text = re.sub(r"^[-・\s]+", "", text)
    return re.sub(r"\s+", "", text)


def missing_in_order(source: list[str], shown: list[str]) -> list[str]:
    """The source's lines not found in `shown` in the source's order.

    Each source line must be inside one shown line, after the place where the previous
    one was found (the same line further on, or a later one): so a line of the document
    split in two by its layout (the PDF's "方針" / "1" / "行政組織…" of one heading) is
    still one heading on the page, and facts out of order are missing.
    """
    missing: list[str] = []
    row, column = 0, 0
    for line in source:
        found = None
        for index in range(row, len(shown)):
            at = shown[index].find(line, column if index == row else 0)
            if at >= 0:
                found = (index, at + len(line))
                break
        if found is None:
            missing.append(line)
        else:
            row, column = found
    return missing


def source_lines(text: str) -> list[str]:
    return [line for line in map(layout_free, text.splitlines()) if line]


def test_the_r6_report_holds_every_line_of_the_citys_document_in_its_order(
    client: TestClient,
) -> None:
    answer = client.get("/plans/1/report/令和6年度")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    source = source_lines(R6_TEXT.read_text(encoding="utf-8"))
    shown = [layout_free(line) for line in page_lines(answer.text)]
    assert len(source) > 80  # the whole document, not an empty read
    assert missing_in_order(source, shown) == []


def test_the_comparison_fails_on_a_changed_fact_or_a_changed_order() -> None:
    """The check above can fail: a figure changed, or two sections swapped, is missing."""
    text = R6_TEXT.read_text(encoding="utf-8")
    lines = source_lines(text)
    assert missing_in_order(lines, lines) == []
    assert missing_in_order(source_lines(text.replace("97.4%", "97.5%")), lines) == [
        "1行政組織の質を高める39項目38項目97.5%"
    ]
    third, fourth = (
        lines.index("3.令和6年度に実施した主な取組事項"),
        lines.index("4.令和7年度に追加した主な取組事項"),
    )
    swapped = lines[:third] + lines[fourth:] + lines[third:fourth]
    assert missing_in_order(swapped, lines) != []


def test_the_table_shows_the_computed_figures_beside_the_published_where_they_differ(
    client: TestClient,
) -> None:
    lines = page_lines(client.get("/plans/1/report/2024").text)
    rows = [layout_free(line) for line in lines]
    # Published 39/38/97.4%; computed from the 3 evaluations held for policy 1: 3/3/100.0%.
    assert "1行政組織の質を高める39項目38項目97.4%3項目3項目100.0%" in rows
    assert "合計124項目108項目87.1%8項目8項目100.0%" in rows
    assert "※うち2項目は数値未確定" in rows


@pytest.mark.parametrize("year", ["2024", "R6", "r6", "令和6", "令和６年度", "㋿6"])
def test_the_year_is_taken_in_every_form_the_api_takes(client: TestClient, year: str) -> None:
    answer = client.get(f"/plans/1/report/{year}")
    assert answer.status_code == 200
    assert "<h1>金沢市行政経営プランの取組状況等について</h1>" in answer.text


def test_the_page_has_its_own_stylesheet_an_a4_page_and_a_strict_csp(
    client: TestClient,
) -> None:
    answer = client.get("/plans/1/report/R6")
    assert answer.headers["content-security-policy"] == PAGE_CSP
    assert '<link rel="stylesheet" href="/dashboard-static/report.css">' in answer.text
    assert "<script" not in answer.text and "style=" not in answer.text
    css = client.get("/dashboard-static/report.css")
    assert css.status_code == 200
    assert "@page { size: A4;" in css.text
    assert '<a href="2024.pdf">' in answer.text


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/plans/999/report/R6", 404, "plan 999 does not exist"),
        ("/plans/1/report/R7", 404, "plan 1 has no report for 令和7年度 (2025)"),
        ("/plans/1/report/R5.pdf", 404, "plan 1 has no report for 令和5年度 (2023)"),
        ("/plans/999/report/R6.pdf", 404, "plan 999 does not exist"),
    ],
)
def test_an_unknown_plan_or_a_year_without_report_is_404(
    client: TestClient, path: str, status: int, detail: str
) -> None:
    problem = assert_problem(client.get(path), status)
    assert problem["detail"] == detail


@pytest.mark.parametrize(
    "path", ["/plans/1/report/R99", "/plans/1/report/2024年", "/plans/x/report/R6"]
)
def test_what_is_not_a_year_or_an_id_is_422(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 422)


@pytest.fixture
def app_with(database_url: str) -> Iterator[Callable[..., TestClient]]:
    """A client for the shared database, with the CHROMIUM and PDF_TIMEOUT of the test's
    choosing."""
    made: list[StartedClient] = []

    def build(chromium: str = "", pdf_timeout: float = 60) -> TestClient:
        settings = Settings(database_url=database_url, chromium=chromium, pdf_timeout=pdf_timeout)
        client = StartedClient(create_app(settings)).start()  # one loop, as make_client's
        made.append(client)
        return client

    yield build
    for client in made:
        client.__exit__(None, None, None)
        client.app.state.engine.dispose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("chromium", ["/nonexistent/chromium", "no-such-browser"])
def test_without_chromium_the_pdf_is_a_503_saying_so(
    app_with: Callable[..., TestClient], chromium: str
) -> None:
    answer = app_with(chromium=chromium).get("/plans/1/report/R6.pdf")
    problem = assert_problem(answer, 503)
    assert "Chromium" in problem["detail"] or "CHROMIUM" in problem["detail"]
    assert "HTML" in problem["detail"]


def test_head_answers_as_get_and_other_methods_are_405(client: TestClient) -> None:
    head = client.head("/plans/1/report/R6")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    for path in ("/plans/1/report/R6", "/plans/1/report/R6.pdf"):
        answer = client.post(path)
        assert_problem(answer, 405)
        assert answer.headers["allow"] == "GET, HEAD"


def test_with_no_chromium_on_path_the_pdf_is_a_503_naming_the_setting(
    app_with: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no chromium on it
    problem = assert_problem(app_with().get("/plans/1/report/R6.pdf"), 503)
    assert problem["detail"] == (
        "the PDF cannot be made: no Chromium is installed on the server (set CHROMIUM to its"
        " path); the report itself is served as HTML"
    )


def _program(folder: Path, body: str) -> str:
    """An executable shell script standing in for Chromium."""
    script = folder / "fake-chromium"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_print_that_overruns_pdf_timeout_is_a_503_and_is_killed(
    app_with: Callable[..., TestClient], tmp_path: Path
) -> None:
    marker = tmp_path / "still-running"
    # A "Chromium" that hangs, with a child of its own that would outlive it if only the
    # parent were killed.
    chromium = _program(tmp_path, f"(sleep 3; touch {marker}) & sleep 30")
    started = time.monotonic()
    answer = app_with(chromium=chromium, pdf_timeout=0.5).get("/plans/1/report/R6.pdf")
    problem = assert_problem(answer, 503)
    assert problem["detail"] == "the PDF cannot be made: Chromium took more than 0.5 seconds"
    assert time.monotonic() - started < 3
    time.sleep(3.5)
    assert not marker.exists()  # the whole process group was killed


def test_a_chromium_that_fails_is_a_503_naming_its_exit(
    app_with: Callable[..., TestClient], tmp_path: Path
) -> None:
    chromium = _program(tmp_path, "echo 'cannot open display' >&2; exit 3")
    problem = assert_problem(app_with(chromium=chromium).get("/plans/1/report/R6.pdf"), 503)
    assert problem["detail"] == (
        "the PDF cannot be made: Chromium exited with 3 without a PDF (cannot open display)"
    )


def test_the_statistics_caveats_are_shown_under_the_computed_figures(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report lists the caveats /stats/achievement gives under the computed figures (for
    the seed: the selection of 9 of 124, the 8 inferred statuses, R6-33 without one), as text."""
    without = client.get("/plans/1/report/R6").text
    caveats = [
        "登録されている18項目は、市の表が数える124項目の一部です。",
        "<b>推定</b>を含みます。",
    ]
    original = read_achievement  # what app.report.service imported

    async def with_caveats(**kwargs: Any) -> Any:
        values, info, version = await original(**kwargs)
        return {**values, "caveats": caveats}, info, version

    monkeypatch.setattr(report_service, "read_achievement", with_caveats)
    shown = client.get("/plans/1/report/R6").text
    assert "計算値についての注意" in without
    assert "公表資料の表は124項目を数えており" in without and "評価8件" in without
    assert "登録されている18項目" not in without
    assert "<li>登録されている18項目は、市の表が数える124項目の一部です。</li>" in shown
    assert "<li>&lt;b&gt;推定&lt;/b&gt;を含みます。</li>" in shown  # text, never markup


def test_a_pdf_is_printed_once_per_data_version_and_revalidates(
    app_with: Callable[..., TestClient], tmp_path: Path
) -> None:
    """Printing takes Chromium seconds: a repeated download is the kept PDF, a browser that
    has it gets a 304 without printing, and a change to the data prints it again."""
    count = tmp_path / "printed"
    chromium = _program(
        tmp_path,
        'for a in "$@"; do case "$a" in --print-to-pdf=*) out="${a#--print-to-pdf=}";; esac; done\n'
        f"echo printed >> {count}\n"
        "printf '%%PDF-1.4 fake' > \"$out\"",
    )
    client = app_with(chromium=chromium)
    first = client.get("/plans/1/report/R6.pdf")
    assert first.status_code == 200, first.text
    assert first.content == b"%PDF-1.4 fake"
    again = client.get("/plans/1/report/R6.pdf")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    unchanged = client.get(
        "/plans/1/report/R6.pdf", headers={"If-None-Match": first.headers["etag"]}
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert count.read_text().splitlines() == ["printed"]  # one print for three requests
    page = client.get("/plans/1/report/R6")
    assert page.headers["etag"] != first.headers["etag"]  # the page and the PDF differ
    assert (
        client.get(
            "/plans/1/report/R6", headers={"If-None-Match": page.headers["etag"]}
        ).status_code
        == 304
    )
