"""The console's page and its server figures (/v1/console/server): open page, keyed data,
counts that leave out probes and the console's own polling, histograms that add up, who may
change models, and RNN_SERVE_CONSOLE=false. The page in a browser: tests/live/browser."""

from __future__ import annotations

import pytest

from tests.support.models import SEED_BATCH
from tests.support.servers import make_client

FIGURES = "/v1/console/server"
PREDICT = "/v1/models/seed-demo/predict"


def test_the_figures_count_what_clients_asked_and_leave_out_probes_and_polls():
    with make_client() as client:
        before = client.get(FIGURES).json()
        for body in ({"inputs": SEED_BATCH}, {"inputs": SEED_BATCH}, {"inputs": "no"}):
            client.post(PREDICT, json=body)
        for path in ("/v2/health/ready", "/metrics", "/console", FIGURES):
            assert client.get(path).status_code == 200
        after = client.get(FIGURES).json()
    assert after["requests"] - before["requests"] == 3
    assert after["client_errors"] - before["client_errors"] == 1
    assert sum(after["latency_s"]["counts"]) == after["requests"]
    assert len(after["latency_s"]["counts"]) == len(after["latency_s"]["bounds"]) + 1
    batch = after["batch"]
    assert sum(batch["counts"]) >= 2 and batch["sum"] >= sum(batch["counts"])
    assert sum(after["device_calls"].values()) >= 2
    assert after["models"] == 2 and after["sequences"]["store"] == "memory"
    assert after["may_change_models"] is False


def test_the_page_is_open_and_its_data_need_a_key():
    with make_client(api_keys="user") as client:
        page = client.get("/console/")  # as typed: redirected to the page
        refused = client.get(FIGURES)
        allowed = client.get(FIGURES, headers={"Authorization": "Bearer user"})
        script = client.get("/docs-assets/console/console.js")
    assert [r.status_code for r in page.history] == [308]
    assert page.status_code == 200 and 'src="docs-assets/console/console.js"' in page.text
    assert refused.status_code == 401 and allowed.status_code == 200
    assert script.status_code == 200 and "v1/console/server" in script.text


@pytest.mark.parametrize(
    ("settings", "key", "may"),
    [
        ({"model_control": "explicit"}, None, True),  # no keys: loopback only (settings.py)
        ({"model_control": "poll"}, None, False),
        ({"model_control": "explicit", "api_keys": "user", "admin_keys": "root"}, "user", False),
        ({"model_control": "explicit", "api_keys": "user", "admin_keys": "root"}, "root", True),
    ],
)
def test_may_change_models_is_what_the_repository_routes_would_allow(settings, key, may):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with make_client(**settings) as client:
        found = client.get(FIGURES, headers=headers).json()["may_change_models"]
        unload = client.post("/v2/repository/models/seed-demo/unload", headers=headers)
    assert found is may
    assert (unload.status_code == 200) is may


def test_the_console_can_be_turned_off():
    with make_client(console=False) as client:
        page, figures = client.get("/console"), client.get(FIGURES)
    assert page.status_code == figures.status_code == 404
    assert "RNN_SERVE_CONSOLE=false" in figures.json()["error"]
