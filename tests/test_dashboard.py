"""The dashboard at `/`, as a browser fetches it: one page, its own scripts and styles, a
strict CSP, and files the wheel carries (what it shows: tests/test_browser.py)."""

import ast
import fnmatch
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "app" / "dashboard" / "static"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def test_the_root_is_the_dashboard_in_japanese(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="ja">' in answer.text
    assert '<script type="module" src="/dashboard-static/dashboard.js">' in answer.text
    assert answer.headers["content-security-policy"] == PAGE_CSP
    assert "unsafe-inline" not in answer.headers["content-security-policy"]


def test_the_docs_still_work_beside_it(client: TestClient) -> None:
    answer = client.get("/docs")
    assert answer.status_code == 200
    assert "swagger-ui" in answer.text


def test_head_answers_as_get_and_other_methods_405(client: TestClient) -> None:
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    for method in ("POST", "PUT", "DELETE"):
        answer = client.request(method, "/")
        assert_problem(answer, 405)
        assert answer.headers["allow"] == "GET, HEAD"


def _assets(text: str) -> set[str]:
    """The files a page or module names: src/href under /dashboard-static, and imports."""
    named = set(re.findall(r'(?:src|href)="(/dashboard-static/[^"]+)"', text))
    named |= {f"/dashboard-static/{name}" for name in re.findall(r'from "\./([^"]+)"', text)}
    return named


def test_every_file_the_page_loads_is_served_from_the_app_with_the_page_csp(
    client: TestClient,
) -> None:
    """Followed from the page through every module it imports: all served by us (no CDN),
    each with its own type and the page's CSP."""
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    seen: set[str] = set()
    waiting = _assets(client.get("/").text)
    while waiting:
        path = waiting.pop()
        seen.add(path)
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(types[Path(path).suffix]), path
        assert answer.headers["content-security-policy"] == PAGE_CSP
        if path.endswith(".js"):
            # No URL of another origin (the SVG namespace is a name, never fetched).
            text = answer.text.replace('"http://www.w3.org/2000/svg"', "")
            assert "http://" not in text and "https://" not in text, path
            waiting |= _assets(answer.text) - seen
    assert {
        "/dashboard-static/dashboard.js",
        "/dashboard-static/api.js",
        "/dashboard-static/charts.js",
        "/dashboard-static/dashboard.css",
    } <= seen


def test_the_wheel_carries_every_file_of_the_dashboard() -> None:
    """setup.py's package_data for app.dashboard matches each file in static/ (an installed
    service has no checkout to serve them from)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    package_data = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "package_data"
    )
    patterns = ast.literal_eval(package_data)["app.dashboard"]
    files = [path.relative_to(STATIC.parent).as_posix() for path in STATIC.rglob("*")]
    assert files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_the_page_and_the_openapi_document_are_revalidated_with_their_etag(
    client: TestClient,
) -> None:
    """Both are the same bytes until a release changes them: a browser (no-cache) and a
    client generator ask again with If-None-Match and get a 304."""
    for path, media in (("/", "text/html"), ("/openapi.json", "application/json")):
        first = client.get(path)
        assert first.status_code == 200
        assert first.headers["content-type"].startswith(media)
        tag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{24}"', tag), tag  # strong: the bytes themselves
        assert first.headers["cache-control"] == "no-cache"
        assert client.get(path).headers["etag"] == tag  # the same bytes, the same tag
        again = client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert again.content == b""
        assert (again.headers["etag"], again.headers["cache-control"]) == (tag, "no-cache")
        assert client.get(path, headers={"If-None-Match": f"W/{tag}"}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        head = client.head(path)
        assert head.headers["etag"] == tag
        assert head.headers["content-length"] == first.headers["content-length"]
    assert client.get("/openapi.json").json()["info"]["title"] == "Plan progress API"
