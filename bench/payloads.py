"""The benchmark's requests: one payload shape per row of the table, as JSON and as binary v2."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import orjson

SEED_BATCH = [[[b + 3 * s + f for f in range(1, 4)] for s in range(5)] for b in range(6)]
# A co2 forecast as the load test sends it: 120 monthly values, 12 steps ahead.
FORECAST_PATH = "/v1/models/co2/forecast"
FORECAST_BODY = orjson.dumps(
    {"series": [315 + 0.03 * i + 3 * math.sin(i / 8.3) for i in range(120)], "horizon": 12}
)


@dataclass(frozen=True)
class Payload:
    name: str
    model: str
    array: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.name} {'x'.join(map(str, self.array.shape))}"

    def v1_json(self) -> bytes:
        return orjson.dumps({"inputs": self.array.tolist()})

    def v2_binary(self) -> tuple[bytes, dict[str, str]]:
        """An Open Inference Protocol request with binary input and binary outputs."""
        raw = self.array.astype("<f4").tobytes()
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "inputs",
                        "shape": list(self.array.shape),
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": len(raw)},
                    }
                ],
                "parameters": {"binary_data_output": True},
            }
        )
        return header + raw, {"Inference-Header-Content-Length": str(len(header))}


def payloads() -> list[Payload]:
    rng = np.random.default_rng(0)
    return [
        Payload("small", "co2", rng.normal(size=(1, 48, 1)).round(4).astype(np.float32)),
        Payload("large", "co2", rng.normal(size=(64, 48, 1)).round(4).astype(np.float32)),
        Payload("seed", "seed-demo", np.array(SEED_BATCH, dtype=np.float32)),
    ]


def json_body(payload: Payload) -> tuple[bytes, dict[str, str]]:
    return payload.v1_json(), {}


def predict_path(payload: Payload) -> str:
    return f"/v1/models/{payload.model}/predict"


def infer_path(payload: Payload) -> str:
    return f"/v2/models/{payload.model}/infer"
