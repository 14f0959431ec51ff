"""Load test for rnn-serve: `locust -f bench/locustfile.py --headless -u 20 -r 10 -t 30s
--host http://127.0.0.1:8000`. Mixes the seed example, a forecast and a binary-free /v2 call."""

import math

from locust import FastHttpUser, between, task

SEED_BATCH = [[[b + 3 * s + f for f in range(1, 4)] for s in range(5)] for b in range(6)]
SERIES = [315 + 0.03 * i + 3 * math.sin(i / 8.3) for i in range(120)]
V2_INPUT = {
    "inputs": [
        {
            "name": "inputs",
            "shape": [6, 5, 3],
            "datatype": "FP32",
            "data": [v for seq in SEED_BATCH for step in seq for v in step],
        }
    ]
}


class ApiUser(FastHttpUser):
    wait_time = between(0.0, 0.05)

    @task(5)
    def predict(self) -> None:
        self.client.post("/v1/models/seed-demo/predict", json={"inputs": SEED_BATCH})

    @task(2)
    def forecast(self) -> None:
        self.client.post("/v1/models/co2/forecast", json={"series": SERIES, "horizon": 12})

    @task(2)
    def infer_v2(self) -> None:
        self.client.post("/v2/models/seed-demo/infer", json=V2_INPUT)

    @task(1)
    def ready(self) -> None:
        self.client.get("/v2/health/ready")
