"""Prometheus metrics, one registry per app (so tests can run several apps side by side)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rnn_serve_requests",
            "HTTP requests answered.",
            ["route", "model", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "rnn_serve_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "rnn_serve_inference_duration_seconds",
            "ONNX Runtime time per (batched) call.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "rnn_serve_batch_requests",
            "Requests coalesced into one call.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "rnn_serve_queue_depth", "Requests waiting for a batch.", ["model"], registry=r
        )
        self.in_flight = Gauge(
            "rnn_serve_inflight_requests",
            "Requests admitted and not yet answered by inference.",
            registry=r,
        )
        self.sequences = Gauge(
            "rnn_serve_sequences", "Live stateful sequences.", ["store"], registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
