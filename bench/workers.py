"""Worker processes against ONNX Runtime threads, on all of this machine's cores.

`python -m bench.workers`: the server may use every core (wrk shares the last one, so
absolute numbers are a little low); prints req/s for each layout.
"""

from __future__ import annotations

import os

from bench.load import OURS, PORT, server, wrk
from bench.payloads import json_body, payloads, predict_path

LAYOUTS = [(1, 1), (1, 2), (2, 1)]  # (workers, ORT threads per worker)


def main() -> list[str]:
    cores = os.cpu_count() or 1
    lines = [
        f"| workers x ORT threads ({cores} cores) | payload | c | req/s | p99 ms |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for workers, threads in LAYOUTS:
        env = {
            "RNN_SERVE_WORKERS": str(workers),
            "RNN_SERVE_ORT_THREADS": str(threads),
            "RNN_SERVE_LOG_LEVEL": "warning",
        }
        with server(OURS, PORT, env, "/v2/health/ready", cores=f"0-{cores - 1}") as ours:
            for payload in payloads()[:2]:
                body, headers = json_body(payload)
                result = wrk(ours, predict_path(payload), body, headers, 32, 5)
                lines.append(
                    f"| {workers} x {threads} | {payload.label} | 32 | "
                    f"{result.requests_per_s:,.0f} | {result.p99_ms:.2f} |"
                )
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
