"""The /docs page renders the API's operations in a real browser (headless Chromium), served by
the production server with nothing fetched from another origin, and its Authorize button works:
a token pasted there authenticates the calls made with "Try it out"."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator

import pytest

from support.cdp import Browser, launch_browser
from support.processes import app_env, authed, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def docs_server(
    migrated_database: Callable[[str], str], redis_url: str
) -> Iterator[tuple[str, str]]:
    """(URL of /docs, an admin token) of the production server serving the docs.

    One worker: the page's requests are the same to any worker, and none is about how many
    there are."""
    env = app_env(migrated_database("fns_docs"), redis_url)
    with running_server(env, workers=1) as server:
        yield f"{server.base}/docs", env["APP_BOOTSTRAP_ADMIN_TOKEN"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests; each test's page starts with its origin's cookies
    and storage cleared (support/cdp.py Browser.open), so no test sees another's."""
    assert CHROMIUM is not None
    with launch_browser(CHROMIUM) as running:
        yield running


@pytest.fixture(scope="module")
def docs_url(docs_server: tuple[str, str]) -> str:
    return docs_server[0]


# The page's DOM, serialized as `chromium --dump-dom` does, once Swagger UI has rendered the
# operations of /openapi.json (their number the same twice, 100 ms apart) or its error.
RENDERED_DOM = """
(async () => {
  let before = -1;
  for (let i = 0; i < 300; i++) {
    const root = document.querySelector("#swagger-ui");
    const now = root ? root.querySelectorAll(".opblock").length : 0;
    if (root && ((now > 0 && now === before)
                 || root.textContent.includes("Failed to load API definition"))) {
      return document.documentElement.outerHTML;
    }
    before = now;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("Swagger UI rendered nothing: " + document.documentElement.outerHTML);
})()
"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_docs_page_renders_every_operation(docs_url: str, browser: Browser) -> None:
    with browser.open(docs_url) as page:
        # The DOM once Swagger UI has rendered the document, or given up on it.
        dom = page.evaluate(RENDERED_DOM, timeout=60)
    # Swagger UI built one block per operation from /openapi.json.
    document = authed.get(docs_url.replace("/docs", "/openapi.json"), timeout=10).json()
    operations = sum(len(item) for item in document["paths"].values())
    assert operations > 18
    assert dom.count('class="opblock opblock-') == operations, dom[-3000:]
    for summary in (
        "Create a task in a project, with tags.",
        "List projects, with their task counts.",
    ):
        assert summary in dom
    assert "/api/v1/tasks/{task_id}" in dom.replace("&#8203;", "").replace("\u200b", "")
    assert "Failed to load API definition" not in dom


# Clicks through Swagger UI as a person would: Authorize, paste the token, Authorize, close;
# open GET /api/v1/me, "Try it out", "Execute"; then reads the status the page shows.
AUTHORIZE_AND_CALL = """
(async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const until = async (find, what) => {
    for (let i = 0; i < 300; i++) {
      const found = find();
      if (found) return found;
      await sleep(100);
    }
    throw new Error("not found: " + what);
  };
  await until(() => location.protocol === "http:" && document.readyState === "complete", "page");
  const before = await fetch("/api/v1/me").then((r) => r.status);
  (await until(() => document.querySelector(".btn.authorize"), "Authorize button")).click();
  const input = await until(() => document.querySelector(".modal-ux input"), "token input");
  const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
  setValue.call(input, TOKEN);
  input.dispatchEvent(new Event("input", { bubbles: true }));
  (await until(() => document.querySelector(".modal-ux .auth-btn-wrapper .authorize"),
    "the dialog's Authorize")).click();
  (await until(() => document.querySelector(".modal-ux .btn-done"), "Close")).click();
  const op = await until(
    () => document.querySelector("#operations-access-me"), "GET /api/v1/me");
  // The summary's button carries the click handler (its parent div does not).
  const summary = op.querySelector("button.opblock-summary-control");
  (summary || op.querySelector(".opblock-summary")).click();
  (await until(() => op.querySelector(".try-out__btn"), "Try it out")).click();
  (await until(() => op.querySelector(".btn.execute"), "Execute")).click();
  const status = await until(() => {
    const cell = op.querySelector(".live-responses-table tbody .response-col_status");
    return cell && cell.textContent.trim();
  }, "the response");
  const cell = op.querySelector(".live-responses-table .response-col_description pre");
  const body = cell ? cell.textContent : "";
  return { before, status, body };
})()
"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_authorize_button_makes_calls_authenticated(
    docs_server: tuple[str, str], browser: Browser
) -> None:
    url, token = docs_server
    with browser.open(url) as page:
        result = page.evaluate(AUTHORIZE_AND_CALL.replace("TOKEN", json.dumps(token)), timeout=60)
    assert result["before"] == 401, result  # the page itself holds no credential
    assert result["status"] == "200", result
    assert json.loads(result["body"])["principal"]["name"] == "admin", result
