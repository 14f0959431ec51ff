"""The interactive docs in a real browser (Chromium from the Debian packages, driven by
Playwright): /docs renders the server's own OpenAPI 3.1 document, lists every operation of the
route table, and "Try it out" gets a 200 from the running server; with API keys on, Authorize
takes the bearer key; /redoc renders the same document. `make browser` (.ci/run installs
Chromium); the screenshots go to $SCREENSHOTS (docs/images in `make screenshots`)."""

from __future__ import annotations

import json
import os

import pytest
from playwright.sync_api import Page, expect

from rnn_serve.service.http.route_table import ROUTES
from tests.support.models import SEED_BATCH
from tests.support.servers import Server

pytestmark = pytest.mark.browser
PREDICT = "/v1/models/{name}/predict"
KEY = "docs-key"


def operations(page: Page) -> set[tuple[str, str]]:
    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible()
    return {
        (
            block.locator(".opblock-summary-method").inner_text().upper(),
            block.locator(".opblock-summary-path").get_attribute("data-path") or "",
        )
        for block in blocks.all()
    }


def try_predict(page: Page, name_is_a_menu: bool) -> str:
    """Opens the predict operation, fills it in, executes it; the status it shows."""
    block = page.locator(".opblock-post").filter(has=page.locator(f'[data-path="{PREDICT}"]'))
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    if name_is_a_menu:
        block.locator("tr[data-param-name='name'] select").select_option("seed-demo")
    else:
        block.locator("tr[data-param-name='name'] input").fill("seed-demo")
    block.locator("textarea.body-param__text").fill(json.dumps({"inputs": SEED_BATCH}))
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status")
    expect(status).to_be_visible()
    block.locator(".live-responses-table").scroll_into_view_if_needed()
    return status.inner_text().strip()


def test_the_docs_list_every_operation_and_try_it_out_gets_a_200(page, screenshots):
    with Server() as server:
        page.goto(f"{server.url}/docs")
        listed = operations(page)
        page.screenshot(path=screenshots / "docs.png")
        documented = {(route.method, route.path) for route in ROUTES if route.documented}
        assert listed == documented
        assert try_predict(page, name_is_a_menu=True) == "200"
        page.screenshot(path=screenshots / "docs-try-it-out.png")


def test_with_api_keys_on_authorize_takes_the_bearer_key(page, screenshots):
    env = os.environ | {"RNN_SERVE_API_KEYS": KEY}
    with Server(env) as server:
        page.goto(f"{server.url}/docs")
        operations(page)
        assert try_predict(page, name_is_a_menu=False).startswith("401")
        page.locator(".auth-wrapper .authorize").click()
        dialog = page.locator(".dialog-ux")
        dialog.locator("input").fill(KEY)
        dialog.locator("button.authorize").click()
        page.screenshot(path=screenshots / "docs-authorize.png")
        dialog.locator("button.btn-done").click()
        page.locator(".opblock-post .btn.execute").click()
        status = page.locator(".opblock-post .live-responses-table tbody .response-col_status")
        expect(status).to_have_text("200")


def test_redoc_renders_the_same_document(page, screenshots):
    with Server() as server:
        page.goto(f"{server.url}/redoc")
        for route in ROUTES:
            if route.documented:
                expect(page.get_by_text(route.summary).first).to_be_attached()
        page.screenshot(path=screenshots / "redoc.png")
