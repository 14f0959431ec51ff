"""A Redis outage, on a real server with a real redis-server stopped by SIGSTOP: sequence
requests get 503, while metadata and metrics keep answering 200 and say the store is down."""

from __future__ import annotations

import os
import signal
import time

import httpx
import redis

from tests.support.servers import Server

GAUGE = 'rnn_serve_state_store_available{store="redis"}'
STEP = {"inputs": [[[1.0, 2.0, 3.0]]]}


def store_status(server: Server) -> tuple[dict, dict, str]:
    listing = httpx.get(f"{server.url}/v1/models", timeout=10)
    one = httpx.get(f"{server.url}/v1/models/co2", timeout=10)
    metrics = httpx.get(f"{server.url}/metrics", timeout=10)
    for response in (listing, one, metrics):
        assert response.status_code == 200, response.text
    gauge = next(line for line in metrics.text.splitlines() if line.startswith(GAUGE))
    return listing.json()["sequences"], one.json()["sequences"], gauge.split()[-1]


def test_metadata_and_metrics_answer_through_a_redis_outage(redis_url):
    pid = int(redis.Redis.from_url(redis_url).info()["process_id"])
    with Server(os.environ | {"RNN_SERVE_STATE_URL": redis_url}) as server:
        predict = f"{server.url}/v1/models/seed-demo/predict"
        begin = STEP | {"sequence": {"id": "outage", "start": True}}
        assert httpx.post(predict, json=begin).status_code == 200
        listing, _, gauge = store_status(server)
        assert listing["available"] and listing["live"] >= 1 and gauge == "1.0"
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            listing, one, gauge = store_status(server)
            down = {"store": "redis", "available": False, "live": None}
            assert (listing, one, gauge) == (down, down, "0.0")
            step = httpx.post(predict, json=STEP | {"sequence": {"id": "outage"}}, timeout=10)
            assert step.status_code == 503
            assert step.json()["error"].startswith("the sequence state store is unavailable")
            assert time.monotonic() - started < 10  # each Redis call gives up after 1 s
        finally:
            os.kill(pid, signal.SIGCONT)
        listing, _, gauge = store_status(server)
        assert listing["available"] and gauge == "1.0"
