"""What a person sees in a real browser: Debian's chromium, driven by Playwright, against
the service run by uvicorn.

1. A browser app reads, writes, and reads again: it must see its write (issue #13, item 3).
   Chromium keeps answers in its HTTP cache as their Cache-Control allows. With `public,
   max-age=60` it served the old initiative and the old statistics for a minute after a
   successful write; with `no-cache` it asks again, with the ETag, each time. httpx has no
   cache, so only a real browser shows this.
2. The dashboard at / and the progress report (issue #20): the published figures, a year
   switched, a search, no console error and no request leaving the origin, the report's PDF
   (its text read by poppler's pdftotext), and screenshots at desktop and phone widths in
   SCREENSHOT_DIR (default: a temporary folder; the path is printed).

The browser is not part of Python: where /usr/bin/chromium or pdftotext is missing these
tests are skipped, unless REQUIRE_SYSTEM_TOOLS=1 (as .ci/run sets, after installing them),
where they fail.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from tests.conftest import wait_until_ready
from tests.helpers import child_env, free_port

CHROMIUM = Path("/usr/bin/chromium")
# As the machine's notes advise: no sandbox as root, and no background traffic to the
# closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.slow]

PDFTOTEXT = shutil.which("pdftotext")
_MISSING = [
    name
    for name, there in ((str(CHROMIUM), CHROMIUM.exists()), ("pdftotext", PDFTOTEXT))
    if not there
]
if _MISSING:
    if os.environ.get("REQUIRE_SYSTEM_TOOLS") == "1":
        raise RuntimeError(f"REQUIRE_SYSTEM_TOOLS=1, and {', '.join(_MISSING)} is missing")
    pytestmark.append(pytest.mark.skip(reason=f"{', '.join(_MISSING)} is not installed"))


@pytest.fixture
def served(fresh_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The service on a database of its own, served by uvicorn; its base URL and a token."""
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="browser", role=Role.editor)
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = child_env()
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
            env=env | {"DATABASE_URL": fresh_url},
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            wait_until_ready(server, base, log, 60)
            yield base, token
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def page(served: tuple[str, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    base, _ = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            tab = browser.new_page()
            # A page of the service's own origin (its docs), so fetch is same-origin.
            tab.goto(f"{base}/docs")
            yield tab
        finally:
            browser.close()


READ_WRITE_READ = """
async ({url, write, token}) => {
  const first = await fetch(url);
  const before = await first.json();
  const headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"};
  if (write.ifMatch) headers["If-Match"] = first.headers.get("ETag");
  const written = await fetch(write.url, {
    method: write.method, headers, body: JSON.stringify(write.body),
  });
  const after = await (await fetch(url)).json();
  return {before, status: written.status, after};
}
"""


def test_a_browser_sees_its_own_change_to_an_initiative(page: Any, served: tuple[str, str]) -> None:
    _, token = served
    url = "/api/v1/initiatives/1"
    result = page.evaluate(
        READ_WRITE_READ,
        {
            "url": url,
            "token": token,
            "write": {
                "url": url,
                "method": "PATCH",
                "ifMatch": True,
                "body": {"title": "ブラウザから変えた題名"},
            },
        },
    )
    assert result["status"] == 200
    assert result["before"]["title"] != "ブラウザから変えた題名"
    assert result["after"]["title"] == "ブラウザから変えた題名"
    assert result["after"]["version"] == result["before"]["version"] + 1


def test_a_browser_sees_its_evaluation_in_the_statistics(
    page: Any, served: tuple[str, str]
) -> None:
    base, token = served
    import httpx

    r7_1 = httpx.get(f"{base}/api/v1/initiatives", params={"code": "R7-1"}).json()["items"][0]
    url = "/api/v1/stats/achievement?fiscal_year=R7"
    result = page.evaluate(
        READ_WRITE_READ,
        {
            "url": url,
            "token": token,
            "write": {
                "url": f"/api/v1/initiatives/{r7_1['id']}/evaluations/R7",
                "method": "PUT",
                "ifMatch": False,
                "body": {"status": "achieved", "result": "窓口で運用開始"},
            },
        },
    )
    assert result["status"] == 201
    assert result["after"]["total"]["achieved"] == result["before"]["total"]["achieved"] + 1
    assert result["after"]["total"]["items"] == result["before"]["total"]["items"] + 1


# --- The dashboard and the report (issue #20) ----------------------------------------------


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on the suite's seeded database (SQLite or PostgreSQL, as the suite runs),
    served by uvicorn on a free port of 127.0.0.1; its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("site") / "server.log"
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            env=child_env(DATABASE_URL=database_url),
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            wait_until_ready(server, base, log, 60)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


@dataclass
class Visit:
    """A browser tab on the site, with what it logged and asked for."""

    tab: Any
    errors: list[str]
    requests: list[str]


@pytest.fixture
def browser(site: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def visit(
    browser: Any, url: str, width: int = 1280, before: Callable[[Any], None] | None = None
) -> Visit:
    """Open url in a new tab `width` pixels wide; every console error and page error, and
    every request, is recorded; a request to another origin is refused (and recorded).
    `before` may set up more of the tab (its own routes) before the page loads."""
    tab = browser.new_page(viewport={"width": width, "height": 900})
    seen = Visit(tab, [], [])
    origin = url.split("/", 3)[:3]

    def console(message: Any) -> None:
        if message.type == "error":  # a CSP violation, a failed request, a script error
            seen.errors.append(message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda error: seen.errors.append(str(error)))
    tab.on("request", lambda request: seen.requests.append(request.url))
    tab.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.split("/", 3)[:3] == origin else route.abort()
        ),
    )
    if before is not None:
        before(tab)
    tab.goto(url)
    return seen


def open_dashboard(
    browser: Any, site: str, width: int = 1280, before: Callable[[Any], None] | None = None
) -> Visit:
    seen = visit(browser, f"{site}/", width, before)
    seen.tab.wait_for_selector("body[data-ready]", timeout=20_000)
    return seen


def policy_rates(tab: Any) -> list[str]:
    """The published rate of each policy, as the achievement table shows it."""
    rows = tab.locator("#achievement-table tbody tr")
    return [rows.nth(index).locator("td").nth(2).inner_text() for index in range(rows.count())]


def test_the_dashboard_shows_the_published_rates_with_no_error_and_nothing_elsewhere(
    browser: Any, site: str
) -> None:
    seen = open_dashboard(browser, site)
    tab = seen.tab
    assert tab.locator("#year").input_value() == "2024"
    assert tab.locator("#year option:checked").inner_text() == "令和6年度"
    assert tab.locator("#published-rate").inner_text() == "87.1%"
    assert policy_rates(tab) == ["97.4%", "84.4%", "80.0%"]
    chart = tab.locator("#achievement-chart").inner_text()
    assert all(rate in chart for rate in ("97.4%", "84.4%", "80.0%"))
    assert tab.locator("#achievement-table tfoot").inner_text().split("\t")[3] == "87.1%"
    # The computed figure says it is a reference, on what it rests, and the rate both ways.
    computed = tab.locator(".figure-computed").inner_text()
    assert "参考" in computed and "100.0%" in computed
    assert "うち推定 8" in computed and "88.9%" in computed
    # The plan's tree, with a status on each initiative.
    tree = tab.locator("#plan-tree")
    assert tree.locator(".initiative").count() == 18
    assert tree.locator(".initiative .badge").count() == 18
    assert "方針1 行政組織の質を高める" in tree.inner_text()
    assert seen.errors == []
    assert seen.requests and all(url.startswith(site + "/") for url in seen.requests)
    assert any(url.startswith(f"{site}/api/v1/stats/achievement") for url in seen.requests)


def test_switching_the_year_changes_the_chart(browser: Any, site: str) -> None:
    seen = open_dashboard(browser, site)
    tab = seen.tab
    before = tab.locator("#achievement-chart").inner_html()
    tab.locator("#year").select_option("2025")  # 令和7年度: no report published yet
    expect(tab.locator("#published-rate")).to_have_text("—")
    assert tab.locator("#achievement-caption").inner_text().startswith("令和7年度")
    assert tab.locator("#achievement-chart").inner_html() != before
    assert "97.4%" not in tab.locator("#achievement-chart").inner_text()
    assert "?year=2025" in tab.url
    tab.locator("#year").select_option("2024")
    expect(tab.locator("#published-rate")).to_have_text("87.1%")
    assert policy_rates(tab) == ["97.4%", "84.4%", "80.0%"]
    assert seen.errors == []


def test_a_search_typed_on_the_keyboard_finds_the_school_route_map(browser: Any, site: str) -> None:
    seen = open_dashboard(browser, site)
    tab = seen.tab
    tab.keyboard.press("Tab")  # the first stop is the link past the header
    assert tab.evaluate("document.activeElement.textContent") == "本文へ移動"
    tab.locator("#q").focus()
    tab.keyboard.type("通学")
    tab.keyboard.press("Enter")
    # (The page's CSP forbids eval, so the waits are Playwright's own, not wait_for_function.)
    expect(tab.locator("#search-status")).to_have_text("「通学」の検索結果：2 件")
    results = tab.locator("#search-results").inner_text()
    assert "R6-10 デジタル通学路マップの活用推進" in results
    assert seen.errors == []


CAVEATS = [
    "登録されている18項目は、市の表が数える124項目の一部です。",
    "達成のうち8項目は、本文の記述から推定した評価です。",
]


def test_the_caveats_of_the_statistics_are_shown_beside_the_computed_figures(
    browser: Any, site: str
) -> None:
    """The dashboard lists the caveats /stats/achievement answers under the figures (the
    seed's: 9 of 124 registered, 8 inferred), whatever they say; with none, no such box."""

    def with_caveats(tab: Any) -> None:
        def answer(route: Any) -> None:
            response = route.fetch()
            route.fulfill(response=response, json=response.json() | {"caveats": CAVEATS})

        tab.route("**/api/v1/stats/achievement?*", answer)

    def without_caveats(tab: Any) -> None:
        def answer(route: Any) -> None:
            response = route.fetch()
            route.fulfill(response=response, json=response.json() | {"caveats": []})

        tab.route("**/api/v1/stats/achievement?*", answer)

    plain = open_dashboard(browser, site)
    shown = plain.tab.locator("#caveats li").all_inner_texts()
    assert any("124項目" in text for text in shown) and any("評価8件" in text for text in shown)
    none = open_dashboard(browser, site, before=without_caveats)
    assert none.tab.locator("#caveats").count() == 0
    seen = open_dashboard(browser, site, before=with_caveats)
    box = seen.tab.locator("#caveats")
    assert box.locator("h3").inner_text() == "計算値についての注意"
    assert box.locator("li").all_inner_texts() == CAVEATS
    assert seen.errors == []


def test_the_reports_pdf_holds_the_published_table(site: str, tmp_path: Path) -> None:
    answer = httpx.get(f"{site}/plans/1/report/R6.pdf", timeout=90)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert "report-kanazawa-2023-2026-2024.pdf" in answer.headers["content-disposition"]
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(answer.content)
    assert PDFTOTEXT is not None
    text = subprocess.run(
        [PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = {"".join(line.split()) for line in text.splitlines()}
    assert "金沢市行政経営プランの取組状況等について" in lines
    assert "達成率87.1%(実施計画124項目中108項目が達成済)" in lines
    for row in (
        "1行政組織の質を高める39項目38項目97.4%",
        "2共創の質を高める45項目38項目84.4%",
        "3財政基盤の質を高める40項目※32項目80.0%",
        "合計124項目108項目87.1%",
    ):
        assert any(line.startswith(row) for line in lines), row
    assert "※うち2項目は数値未確定" in lines
    assert "・公用車給油事務へのクレジットカードの導入[P38,№.R6-7]" in lines


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: SCREENSHOT_DIR, else a temporary folder."""
    folder = os.environ.get("SCREENSHOT_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("width", [1280, 390, 360])
def test_the_dashboard_and_the_report_fit_the_screen(
    browser: Any, site: str, screenshots: Path, width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """No page is wider than the screen (a wide table scrolls in its own box); each is
    photographed whole, for a person to look at."""
    seen = open_dashboard(browser, site, width)
    assert seen.tab.evaluate("document.documentElement.scrollWidth") <= width
    seen.tab.screenshot(path=str(screenshots / f"dashboard-{width}.png"), full_page=True)
    report = visit(browser, f"{site}/plans/1/report/R6", width)
    assert report.tab.evaluate("document.documentElement.scrollWidth") <= width
    assert report.tab.locator("h1").inner_text() == "金沢市行政経営プランの取組状況等について"
    report.tab.screenshot(path=str(screenshots / f"report-{width}.png"), full_page=True)
    assert seen.errors == [] and report.errors == []
    with capsys.disabled():
        print(f"\nscreenshots ({width}px): {screenshots}")
