"""`python -m bench.tracing`: what OpenTelemetry traces cost. The same server, with tracing off
(the default), on, and on with 1% of the traces sampled, exporting over OTLP/HTTP to a receiver
in this process that accepts every batch and drops it. They take turns, ``--rounds`` times, on
small /v1 requests and on 64x48 batches; the best of each is kept and the ratio printed.
Tracing off against the code before tracing was added: `python -m bench.compare REV`.
Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.compare import CASES
from bench.load import OURS, OURS_ENV, PORT, server, wrk
from bench.payloads import payloads


class _Drop(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def receiver() -> Iterator[str]:
    """An OTLP/HTTP endpoint that accepts everything: its address."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Drop)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{sink.server_address[1]}"
    finally:
        sink.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    loads = {payload.name: payload for payload in payloads()}
    cases = [case for case in CASES if case[1] in ("small", "large") and case[0] == "v1 json"]
    best: dict[tuple[str, str], float] = {}
    with receiver() as endpoint:
        sides = {
            "off": OURS_ENV,
            "on": OURS_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
            "on, 1% sampled": OURS_ENV
            | {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.01",
            },
        }
        for round_ in range(args.rounds):
            for side, env in sides.items():
                with server(OURS, PORT, env, "/v2/health/ready") as running:
                    for label, name, request in cases:
                        path, body, headers = request(loads[name])
                        found = wrk(running, path, body, headers, args.connections, args.seconds)
                        case = f"{label} {loads[name].label}"
                        best[side, case] = max(best.get((side, case), 0.0), found.requests_per_s)
                        print(
                            f"round {round_ + 1} tracing {side:>14} {case:<22} "
                            f"{found.requests_per_s:9.0f} req/s",
                            flush=True,
                        )
    print(f"\nc={args.connections}, best of {args.rounds} rounds, req/s:")
    print("| case | tracing | req/s | / off |\n| --- | --- | ---: | ---: |")
    for side, case in best:
        rate = best[side, case]
        print(f"| {case} | {side} | {rate:,.0f} | {rate / best['off', case]:.2f} |")


if __name__ == "__main__":
    main()
