"""The web console (/console) in a real browser (Chromium from the Debian packages, driven by
Playwright) against a real server: the models page, a pasted CSV's forecast charted as the API
answers it, the server's error next to the field at fault, the key prompt, admin-only buttons,
and the server panel under load. `make browser`; the screenshots go to $SCREENSHOTS
(docs/images in `make screenshots`)."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.support.servers import Server

pytestmark = pytest.mark.browser
KEY, ADMIN = "console-key", "console-admin"
WEEKS = 160


def co2_like_csv(bad_line: int | None = None) -> tuple[str, list[float]]:
    """Weekly values with a trend and a yearly season (co2's shape), as a user would paste
    them: a header, then date,value lines; ``bad_line`` (1-based, the header is line 1) holds
    a word instead of a number."""
    t = np.arange(WEEKS)
    values = (360 + 0.03 * t + 3 * np.sin(2 * math.pi * t / 52)).round(2).tolist()
    dates = np.datetime64("1995-01-07") + 7 * t
    lines = ["date,value"] + [f"{d},{v}" for d, v in zip(dates, values, strict=True)]
    if bad_line is not None:
        lines[bad_line - 1] = lines[bad_line - 1].split(",")[0] + ",n/a"
    return "\n".join(lines) + "\n", values


def test_the_models_page_lists_the_shipped_models(page: Page, screenshots: Path):
    with Server() as server:
        page.goto(f"{server.url}/console")
        rows = page.locator("#view table tbody tr")
        expect(rows).to_have_count(2)
        names = sorted(rows.nth(i).locator("td").first.inner_text() for i in range(2))
        assert names == ["co2", "seed-demo"]
        expect(page.locator("button[data-action]")).to_have_count(0)  # no model control
        page.screenshot(path=screenshots / "console-models.png", full_page=True)
        page.locator("a", has_text="co2").click()
        expect(page.locator("#mase-chart canvas")).to_be_visible()
        expect(page.locator("#live-scores")).to_contain_text("Not yet")
        methods = page.evaluate("consoleCharts.mase.series.slice(1).map((s) => s.label)")
        assert set(methods) >= {"seasonal_naive", "holt_winters"}
        page.screenshot(path=screenshots / "console-model.png", full_page=True)


def test_a_pasted_csv_is_charted_as_the_api_forecasts_it(page: Page, screenshots: Path):
    text, values = co2_like_csv()
    with Server() as server:
        page.goto(f"{server.url}/console#forecast")
        page.select_option("#model", "co2")
        page.fill("#csv", text)
        expect(page.locator("#value-column")).to_have_value("value")
        page.fill("#horizon", "26")
        page.fill("#levels", "80, 95")
        page.click("#forecast-form button[type=submit]")
        expect(page.locator("#forecast-chart canvas")).to_be_visible()
        plotted = page.evaluate("consoleCharts.forecast.data")
        page.screenshot(path=screenshots / "console-forecast.png", full_page=True)
        body = {"series": [values], "horizon": 26, "levels": [80, 95]}
        answer = httpx.post(f"{server.url}/v1/models/co2/forecast", json=body).json()
        with page.expect_download() as saving:
            page.click("#download")
        saved = Path(saving.value.path()).read_text().splitlines()
    assert saving.value.suggested_filename == "forecast-co2.csv"
    assert saved[0] == "id,step,forecast,lower_80,upper_80,lower_95,upper_95"
    first = [float(cell) for cell in saved[1].split(",")[1:]]
    bounds = answer["intervals"]
    edges = [bounds[level][side][0][0] for level in ("80", "95") for side in ("lower", "upper")]
    assert first == [1, answer["forecasts"][0][0], *edges]
    assert len(saved) == 1 + 26
    x, history, forecast, low80, high80, low95, high95 = plotted
    assert x[0] == 1 - WEEKS and x[-1] == 26
    assert history[:WEEKS] == values and forecast[:WEEKS] == [None] * WEEKS
    assert forecast[WEEKS:] == answer["forecasts"][0]
    for level, low, high in (("80", low80, high80), ("95", low95, high95)):
        assert low[WEEKS:] == answer["intervals"][level]["lower"][0]
        assert high[WEEKS:] == answer["intervals"][level]["upper"][0]
    assert all(a <= b for a, b in zip(low95[WEEKS:], low80[WEEKS:], strict=True))


def test_a_bad_csv_shows_the_servers_error_next_to_the_field(page: Page):
    text, _ = co2_like_csv(bad_line=5)
    upload = {"name": "weekly.csv", "mimeType": "text/csv", "buffer": text.encode()}
    with Server() as server:
        page.goto(f"{server.url}/console#forecast")
        page.select_option("#model", "co2")
        page.set_input_files("#file", files=[upload])
        expect(page.locator("#csv")).to_have_value(text)
        page.fill("#horizon", "0")
        page.click("#forecast-form button[type=submit]")
        expect(page.locator("#csv-error")).to_contain_text("line 5: series[0][3] must be a number")
        expect(page.locator("#horizon-error")).to_contain_text("greater than or equal to 1")
        expect(page.locator("#forecast-chart")).to_have_count(0)


def test_without_a_key_the_console_asks_for_one(page: Page):
    with Server(os.environ | {"RNN_SERVE_API_KEYS": KEY}) as server:
        page.goto(f"{server.url}/console")
        expect(page.locator("#key-form")).to_be_visible()
        expect(page.locator("#key-reason")).to_have_text("This server asks for an API key.")
        page.fill("#key", "not-the-key")
        page.click("#key-form button[type=submit]")
        expect(page.locator("#key-reason")).to_contain_text("refused this key")
        page.fill("#key", KEY)
        page.click("#key-form button[type=submit]")
        expect(page.locator("#key-form")).to_be_hidden()
        expect(page.locator("#view table tbody tr")).to_have_count(2)
        assert page.evaluate("sessionStorage.getItem('rnn-serve.api-key')") == KEY


def test_load_and_unload_buttons_appear_only_with_an_admin_key(page: Page):
    env = os.environ | {
        "RNN_SERVE_API_KEYS": KEY,
        "RNN_SERVE_ADMIN_KEYS": ADMIN,
        "RNN_SERVE_MODEL_CONTROL": "explicit",
    }
    with Server(env) as server:
        page.goto(f"{server.url}/console")
        page.evaluate(f"sessionStorage.setItem('rnn-serve.api-key', '{KEY}')")
        page.reload()
        expect(page.locator("#view table tbody tr")).to_have_count(2)
        expect(page.locator("button[data-action]")).to_have_count(0)
        page.evaluate(f"sessionStorage.setItem('rnn-serve.api-key', '{ADMIN}')")
        page.reload()
        expect(page.locator("button[data-action=unload]")).to_have_count(2)
        row = page.locator("#view tbody tr", has_text="seed-demo")
        row.locator("button[data-action=unload]").click()
        expect(row.locator("button[data-action=load]")).to_be_visible()
        headers = {"authorization": f"Bearer {KEY}"}
        gone = httpx.get(f"{server.url}/v1/models/seed-demo", headers=headers)
        row.locator("button[data-action=load]").click()
        expect(row.locator("button[data-action=unload]")).to_be_visible()
        back = httpx.get(f"{server.url}/v1/models/seed-demo", headers=headers)
    assert (gone.status_code, back.status_code) == (404, 200)


def test_the_server_panel_updates_under_load(page: Page, screenshots: Path):
    with Server() as server:
        page.goto(f"{server.url}/console#server")
        rate = page.locator("[data-figure=rps] b")
        expect(rate).not_to_have_text("…")  # two polls: a rate
        assert float(rate.inner_text()) == 0.0
        stop = time.monotonic() + 8
        sent = []

        def load() -> None:
            with httpx.Client(base_url=server.url) as client:
                body = {"inputs": [[[0.1, 0.2, 0.3]] * 8]}
                while time.monotonic() < stop:
                    sent.append(client.post("/v1/models/seed-demo/predict", json=body).status_code)

        threads = [threading.Thread(target=load) for _ in range(2)]
        for thread in threads:
            thread.start()
        expect(rate).not_to_have_text("0", timeout=6000)
        busy = float(rate.inner_text())
        expect(page.locator("[data-figure=p99] b")).to_contain_text("ms")
        page.screenshot(path=screenshots / "console-server.png", full_page=True)
        for thread in threads:
            thread.join()
        total = page.locator("[data-figure=requests] b")
        expect(total).to_have_text(str(len(sent)), timeout=6000)
        points = page.evaluate("consoleCharts.server.data[1].length")
    assert busy > 0 and set(sent) == {200} and points >= 3


def test_the_model_page_shows_live_scores_once_a_sequence_has_them(page: Page):
    _, values = co2_like_csv()
    url_path = "/v1/models/co2/forecast"
    with Server() as server, httpx.Client(base_url=server.url) as client:
        start = {"series": values[:105], "sequence": {"id": "live", "start": True}}
        for body in [start] + [{"series": [v], "sequence": {"id": "live"}} for v in values[105:]]:
            answer = client.post(url_path, json=body | {"horizon": 4, "levels": [80, 95]})
            assert answer.status_code == 200, answer.text
        live = client.get("/v1/models/co2").json()["live"]
        page.goto(f"{server.url}/console#model/co2")
        rows = page.locator("#live-scores tbody tr")
        expect(rows).to_have_count(4)
        first = rows.first.locator("td").all_inner_texts()
    assert first[:3] == ["1", str(live["scored"]["h1"]), f"{live['mae']['h1']:.3f}"]
