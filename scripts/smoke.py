"""Checks a running rnn-serve at URL: the seed example's shapes and a CO2 forecast.

Standard library only, so it runs against a container from any Python 3.
Usage: python3 scripts/smoke.py http://127.0.0.1:18080
"""

import json
import math
import sys
import urllib.request

SEED_BATCH = [[[b + 3 * s + f for f in range(1, 4)] for s in range(5)] for b in range(6)]


def post(url: str, payload: object) -> dict:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def shape(nested: object) -> list[int]:
    dims = []
    while isinstance(nested, list):
        dims.append(len(nested))
        nested = nested[0]
    return dims


def main(base: str) -> None:
    answer = post(f"{base}/v1/models/seed-demo/predict", {"inputs": SEED_BATCH})
    assert shape(answer["outputs"]) == [6, 5, 7], shape(answer["outputs"])
    assert shape(answer["state"]) == [6, 7], shape(answer["state"])
    series = [315 + 0.03 * i + 3 * math.sin(i / 8.3) for i in range(120)]
    forecast = post(f"{base}/v1/models/co2/forecast", {"series": series, "horizon": 12})
    values = forecast["forecasts"]
    assert len(values) == 12 and all(abs(v - series[-1]) < 20 for v in values), values
    print(f"smoke ok: {base} seed (6, 5, 7)/(6, 7), co2 forecast {values[0]:.2f}..{values[-1]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
