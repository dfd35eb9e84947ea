"""End to end in headless chromium: the real task pane, served over HTTPS by the real service
(backed by the fake GLM server), with a fake Office.js keeping the grid in memory.

Also: a page from another origin in the same browser cannot call the API nor read the token.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from excel_glm.config import Settings

pytestmark = pytest.mark.browser

ADDIN_DIR = Path(__file__).resolve().parents[2] / "addin"
FAKE_OFFICE_JS = ADDIN_DIR / "tests" / "fake-office.js"
OFFICE_JS_URL = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-test-token-3f9c2a7d81e0b64c"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def service(fake_glm, tmp_path):
    """The real service over HTTPS on a free port, its provider the fake GLM server."""
    from excel_glm.server.run import ServiceThread

    settings = Settings(
        provider="glm",
        api_key=fake_glm.api_key,
        base_url=fake_glm.base_url,
        token=TOKEN,
        cache_path=tmp_path / "cache.sqlite3",
    )
    with ServiceThread(settings, use_https=True) as running:
        yield running


@pytest.fixture
def page(browser, service):
    """A fresh browser context that accepts the service's local certificate and loads the fake
    Office.js in place of Microsoft's CDN; nothing leaves the machine. It closes before the
    service stops, so no keep-alive connection holds up the service's shutdown."""
    context = browser.new_context(ignore_https_errors=True)

    def route(route):
        url = route.request.url
        if url == OFFICE_JS_URL:
            route.fulfill(path=str(FAKE_OFFICE_JS), content_type="text/javascript")
        elif url.startswith(("https://127.0.0.1:", "http://127.0.0.1:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def open_taskpane(page, service) -> None:
    page.goto(f"{service.url}/addin/taskpane.html")
    page.wait_for_function("window.fakeExcel && window.ExcelGlmTaskpane")
    # The pane reads the (empty) selection once Office is ready; wait for that to settle.
    page.wait_for_function("document.getElementById('status').textContent === ''", timeout=WAIT_MS)


def use_selection(page, seed_address: str, values: list[list[str]], select: str) -> None:
    # Clear the label first so the wait below sees this selection's label, not a stale one.
    page.evaluate(
        "([address, values, select]) => {"
        " fakeExcel.seed(address, values); fakeExcel.select(select);"
        " document.getElementById('selection-label').textContent = ''; }",
        [seed_address, values, select],
    )
    page.click("#use-selection")
    page.wait_for_function(
        "document.getElementById('selection-label').textContent.includes('rows of column')",
        timeout=WAIT_MS,
    )


def run_and_wait(page) -> str:
    page.click("#run")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('Done')"
        " || (document.getElementById('status').className === 'error'"
        "     && !document.getElementById('status').textContent.includes('Press Run again'))",
        timeout=WAIT_MS,
    )
    return page.inner_text("#status")


def test_translate_a_column_writes_values_and_neutralises_formulas(page, service, fake_glm):
    model = fake_glm.oracle
    fake_glm.oracle = lambda params, text: (
        "=1+2" if "formula" in text else "@SUM(A1)" if "at sign" in text else model(params, text)
    )
    open_taskpane(page, service)
    column = [["Review"], ["Bonjour"], ["a formula please"], [""], ["Merci"], ["at sign"]]
    use_selection(page, "Sheet1!A1:A6", column, "A:A")
    assert page.inner_text("#selection-label").startswith("6 rows of column A")
    page.check("#skip-header")
    # Four cells to pay for: the blank one costs nothing.
    page.wait_for_function(
        "/^4 cells/.test(document.getElementById('estimate').textContent)", timeout=WAIT_MS
    )

    status = run_and_wait(page)

    assert status.startswith("Done: 5 rows written into column B"), status
    cells = [row[0] for row in page.evaluate("fakeExcel.cells('Sheet1!B1:B6')")]
    assert cells[0] is None, "the header row is left alone"
    assert cells[1] == {"value": "[English] Bonjour", "formula": None, "prefixed": False}
    assert cells[2] == {"value": "=1+2", "formula": None, "prefixed": True}
    assert cells[3] is None, "a blank input stays blank"
    assert cells[4] == {"value": "[English] Merci", "formula": None, "prefixed": False}
    assert cells[5] == {"value": "@SUM(A1)", "formula": None, "prefixed": True}
    assert page.evaluate("fakeExcel.cell('Sheet1!A3').value") == "a formula please"
    preview = page.inner_text("#preview tbody")
    assert "[English] Bonjour" in preview
    assert float(page.get_attribute("#progress", "value") or 0) == pytest.approx(5)
    assert len(fake_glm.requests) >= 1
    assert TOKEN not in page.inner_text("body")
    assert page.errors == []  # type: ignore[attr-defined]


def test_extract_writes_one_column_per_field_after_confirming_overwrite(page, service):
    open_taskpane(page, service)
    column = [["Ann Lee, ann@example.com"], ["Bob wrote from bob@example.org"]]
    use_selection(page, "Sheet1!A1:A2", column, "A1:A2")
    page.evaluate("fakeExcel.seed('Sheet1!D2', [['keep me?']])")
    page.select_option("#task", "extract")
    page.fill("#fields", "name, email")
    page.fill("#target-column", "D")

    page.click("#run")
    page.wait_for_function(
        "document.getElementById('status').textContent.includes('Press Run again')",
        timeout=WAIT_MS,
    )
    assert page.evaluate("fakeExcel.cell('Sheet1!D2').value") == "keep me?"
    status = run_and_wait(page)

    assert status.startswith("Done: 2 rows written into column D:E"), status
    cells = page.evaluate("fakeExcel.cells('Sheet1!D1:E2')")
    assert [cell["value"] for cell in cells[0]] == ["Ann", "ann@example.com"]
    assert [cell["value"] for cell in cells[1]] == ["Bob", "bob@example.org"]


def test_custom_function_reaches_the_real_service_from_the_shared_runtime(page, service):
    open_taskpane(page, service)
    result = page.evaluate(
        """async () => {
            const translate = CustomFunctions.associated.GLM_TRANSLATE;
            return await translate([["Hola", ""], [0, "Adiós"]], "English", {});
        }"""
    )
    assert result == [["[English] Hola", ""], ["", "[English] Adiós"]]


def test_cells_without_an_answer_are_left_empty_and_listed(page, service, fake_glm):
    fake_glm.inject("1301", times=None, match="forbidden")  # GLM's "sensitive content" refusal
    open_taskpane(page, service)
    use_selection(page, "Sheet1!A1:A3", [["fine"], ["forbidden words"], ["also fine"]], "A1:A3")

    status = run_and_wait(page)

    assert "2 of 3 rows written" in status and "1 left empty" in status, status
    cells = [row[0] for row in page.evaluate("fakeExcel.cells('Sheet1!B1:B3')")]
    assert cells[0]["value"] == "[English] fine"
    assert cells[1] is None
    assert cells[2]["value"] == "[English] also fine"
    assert page.is_visible("#failures")
    assert page.inner_text("#failure-list").startswith("Row 2: ")


def test_a_fatal_provider_error_is_reported_and_nothing_is_written(page, service, fake_glm):
    fake_glm.inject("1000", times=None)  # GLM refuses the API key
    open_taskpane(page, service)
    use_selection(page, "Sheet1!A1:A2", [["one"], ["two"]], "A1:A2")

    status = run_and_wait(page)

    assert "Nothing was written" in status, status
    assert page.evaluate("fakeExcel.cells('Sheet1!B1:B2')") == [[None], [None]]
    assert fake_glm.api_key not in page.content()


def test_cancel_stops_the_job_and_writes_nothing(page, service, fake_glm):
    fake_glm.set_latency(base_ms=1500)
    open_taskpane(page, service)
    column = [[f"sentence number {i}"] for i in range(60)]
    use_selection(page, "Sheet1!A1:A60", column, "A1:A60")

    page.click("#run")
    page.wait_for_function("!document.getElementById('cancel').disabled", timeout=WAIT_MS)
    page.click("#cancel")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('Cancelled')", timeout=WAIT_MS
    )

    assert page.evaluate("fakeExcel.writes") == []
    assert page.is_enabled("#run")


def test_progress_falls_back_to_polling_when_the_event_stream_breaks(page, service):
    broken_streams: list[str] = []

    def broken_stream(route):
        broken_streams.append(route.request.url)
        route.fulfill(status=200, body="", content_type="text/event-stream")

    page.route("**/v1/jobs/*/events", broken_stream)
    open_taskpane(page, service)
    use_selection(page, "Sheet1!A1:A2", [["uno"], ["dos"]], "A1:A2")

    status = run_and_wait(page)

    assert status.startswith("Done: 2 rows written"), status
    cells = page.evaluate("fakeExcel.cells('Sheet1!B1:B2')")
    assert [row[0]["value"] for row in cells] == ["[English] uno", "[English] dos"]
    assert len(broken_streams) == 1, "the pane followed the (broken) event stream first"


def test_a_refused_token_gives_a_clear_message(page, service):
    open_taskpane(page, service)
    page.evaluate("document.querySelector('meta[name=\"excel-glm-token\"]').content = 'stale'")
    use_selection(page, "Sheet1!A1:A2", [["uno"], ["dos"]], "A1:A2")

    status = run_and_wait(page)

    assert "token (401)" in status and "Reload the add-in" in status, status
    assert page.evaluate("fakeExcel.writes") == []


class _ForeignPage(BaseHTTPRequestHandler):
    """Any page on another origin, e.g. a web site the user happens to visit."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>elsewhere</title><p>another origin</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def foreign_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForeignPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


FOREIGN_ATTEMPTS = """
async ([service, guessedToken]) => {
  const body = JSON.stringify({task: "translate", values: [["x"]], params: {to: "English"}});
  const results = {};
  async function attempt(name, url, init) {
    try {
      const response = await fetch(url, init);
      results[name] = {status: response.status, type: response.type, text: await response.text()};
    } catch (error) {
      results[name] = {error: String(error)};
    }
  }
  const json = {"Content-Type": "application/json"};
  await attempt("cells without a token", service + "/v1/cells",
    {method: "POST", headers: json, body});
  await attempt("cells with a guessed token", service + "/v1/cells",
    {method: "POST", headers: {...json, Authorization: "Bearer " + guessedToken}, body});
  await attempt("simple no-cors post", service + "/v1/cells",
    {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
  await attempt("read the task pane", service + "/addin/taskpane.html", {});
  const frame = document.createElement("iframe");
  frame.src = service + "/addin/taskpane.html";
  await new Promise((resolve) => { frame.onload = resolve; document.body.appendChild(frame); });
  try {
    const doc = frame.contentDocument;
    results["iframe"] = {text: doc ? doc.documentElement.outerHTML : null};
  } catch (error) {
    results["iframe"] = {error: String(error)};
  }
  return results;
}
"""


def test_a_page_from_another_origin_cannot_use_the_api_or_read_the_token(
    page, service, foreign_origin, fake_glm
):
    statuses: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda response: (
            statuses.append((response.url, response.status)) if "/v1/" in response.url else None
        ),
    )
    page.goto(foreign_origin)

    results = page.evaluate(FOREIGN_ATTEMPTS, [service.url, "guessed-token-0000"])

    assert "error" in results["cells without a token"], results
    assert "error" in results["cells with a guessed token"], results
    simple = results["simple no-cors post"]
    assert simple.get("type") == "opaque" or "error" in simple, simple
    assert simple.get("text", "") == ""
    assert "error" in results["read the task pane"], results
    assert results["iframe"].get("text") is None, "a cross-origin frame's document is not readable"
    assert TOKEN not in json.dumps(results)
    # What reached the service was refused there, not only hidden by the browser.
    assert statuses, "the no-cors request reaches the service"
    assert all(status == 403 for _, status in statuses), statuses
    assert fake_glm.requests == [], "no model call was paid for"


def test_filtered_out_rows_are_skipped_and_their_target_cells_kept(page, service, fake_glm):
    open_taskpane(page, service)
    page.evaluate("fakeExcel.seed('Sheet1!B3', [['kept']]); fakeExcel.hideRows('Sheet1!3:3')")
    use_selection(page, "Sheet1!A1:A4", [["Review"], ["Bonjour"], ["Hidden"], ["Merci"]], "A:A")
    page.wait_for_function(
        "document.getElementById('selection-label').textContent"
        ".includes('1 hidden or filtered-out rows are skipped')",
        timeout=WAIT_MS,
    )
    page.check("#skip-header")
    assert "Hidden" not in page.inner_text("#preview tbody")

    status = run_and_wait(page)

    assert status.startswith("Done: 2 rows written into column B"), status
    cells = [row[0] for row in page.evaluate("fakeExcel.cells('Sheet1!B2:B4')")]
    assert cells[0]["value"] == "[English] Bonjour"
    assert cells[1]["value"] == "kept", "a hidden row's target cell is left as it was"
    assert cells[2]["value"] == "[English] Merci"
    assert "Hidden" not in fake_glm.items_sent()
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_protected_sheet_is_refused_before_anything_is_sent(page, service, fake_glm):
    open_taskpane(page, service)
    use_selection(page, "Sheet1!A1:A2", [["Bonjour"], ["Merci"]], "A1:A2")
    page.evaluate("fakeExcel.protect('Sheet1')")

    status = run_and_wait(page)

    assert "“Sheet1” is protected" in status and "Unprotect" in status, status
    assert fake_glm.requests == []
    assert page.evaluate("fakeExcel.cell('Sheet1!B1')") is None


def test_several_selected_areas_give_one_clear_message(page, service):
    open_taskpane(page, service)
    page.evaluate(
        "fakeExcel.seed('Sheet1!A1:C2', [['a', '', 'c'], ['a', '', 'c']]);"
        " fakeExcel.select('A1:A2,C1:C2')"
    )
    page.click("#use-selection")
    page.wait_for_function(
        "document.getElementById('status').className === 'error'", timeout=WAIT_MS
    )
    assert page.inner_text("#status").startswith("Several separate areas are selected")
