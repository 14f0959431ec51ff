"""Prometheus metrics, one registry per app (so tests can run several apps side by side)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class RequestStats(Collector):
    """Per-request counts and latencies, recorded on the event loop's thread with plain
    arithmetic (prometheus_client takes a lock per update, several microseconds a request)
    and turned into Prometheus families only when scraped."""

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
        self.latency: dict[str, list[float]] = {}  # route -> bucket counts, then the sum

    def record(
        self, route: str, model: str, status: int, seconds: float, protocol: str = "http"
    ) -> None:
        """``status`` is HTTP's, for gRPC too: the status of the error its code came from."""
        self.counts[(route, model, str(status), protocol)] += 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "rnn_serve_requests",
            "Requests answered, over HTTP or gRPC.",
            labels=["route", "model", "status", "protocol"],
        )
        for labels, count in list(self.counts.items()):
            requests.add_metric(list(labels), count)
        yield requests
        latency = HistogramMetricFamily(
            "rnn_serve_request_duration_seconds",
            "Time to answer a request, over HTTP or gRPC (its route says which).",
            labels=["route"],
        )
        bounds = [*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
        for route, histogram in list(self.latency.items()):
            cumulative, total = [], 0.0
            for bound, observed in zip(bounds, histogram[:-1], strict=True):
                total += observed
                cumulative.append((bound, total))
            latency.add_metric([route], cumulative, sum_value=histogram[-1])
        yield latency


class Metrics:
    def __init__(self) -> None:
        # Every model name ever served: the only values a request's model label takes (any
        # other name a client sends is "unknown", so clients cannot grow the label set).
        self.known_models: set[str] = set()
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = RequestStats()
        r.register(self.http)
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
        self.queued_work = Gauge(
            "rnn_serve_queued_work_seconds",
            "Inference work admitted and not done, as the models' cost models expect it.",
            registry=r,
        )
        self.reserved_work = Gauge(
            "rnn_serve_reserved_work_seconds",
            "Work announced by clients told to send their bodies (Expect: 100-continue), "
            "reserved until they are admitted.",
            registry=r,
        )
        self.in_flight = Gauge(
            "rnn_serve_inflight_requests",
            "Requests admitted and not yet answered by inference.",
            registry=r,
        )
        self.sequences = Gauge(
            "rnn_serve_sequences", "Live stateful sequences.", ["store"], registry=r
        )
        self.store_available = Gauge(
            "rnn_serve_state_store_available",
            "1 when the sequence state store answered the last scrape, else 0.",
            ["store"],
            registry=r,
        )

        self.loop_lag = Histogram(
            "rnn_serve_event_loop_lag_seconds",
            "How late the event loop woke a task that slept a fixed interval: time it spent "
            "on other work without yielding.",
            buckets=LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.device_calls = Counter(
            "rnn_serve_device_calls",
            "ONNX Runtime calls per model and device (cpu, cuda): with a GPU and provider auto, "
            "each goes where its model's cost model expects it to finish sooner.",
            ["model", "device"],
            registry=r,
        )
        self.live_mae = Gauge(
            "rnn_serve_live_mae",
            "Mean absolute error of a forecasting model's sequence forecasts against what "
            "happened, by horizon step (the last 500 scored).",
            ["model", "version", "horizon_step"],
            registry=r,
        )
        self.live_coverage = Gauge(
            "rnn_serve_live_interval_coverage",
            "Share of the last 100 scored values inside a model's interval of this level.",
            ["model", "version", "level"],
            registry=r,
        )
        self.drift = Gauge(
            "rnn_serve_drift",
            "1 while a level's live coverage is below the level by more than 15 points.",
            ["model", "version", "level"],
            registry=r,
        )
        self.refusals = Histogram(
            "rnn_serve_overload_refusal_seconds",
            "From a request's arrival to its 503 for overload (wait, bytes or count past its "
            "bound) being sent; a body sent anyway is read and dropped after.",
            buckets=LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.loads = Counter(
            "rnn_serve_model_loads",
            "Model versions loaded (result ok) or refused (result failed), start-up included.",
            ["model", "result"],
            registry=r,
        )
        self.versions = Gauge(
            "rnn_serve_model_versions", "Versions of a model being served.", ["model"], registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self, quiet: frozenset[str]) -> dict[str, Any]:
        """The console's server panel: totals since start, which it differences between two
        snapshots into rates and percentiles, and the gauges as last refreshed. Requests on the
        ``quiet`` routes (health, metrics, the console's own) are left out."""
        counts = {"requests": 0, "client_errors": 0, "server_errors": 0}
        for (route, _, status, _), count in list(self.http.counts.items()):
            if route not in quiet:
                counts["requests"] += count
                kind = {"4": "client_errors", "5": "server_errors"}.get(status[0])
                if kind:
                    counts[kind] += count
        latency = [0.0] * (len(LATENCY_BUCKETS) + 1)
        for route, histogram in list(self.http.latency.items()):
            if route not in quiet:
                latency = [a + b for a, b in zip(latency, histogram[:-1], strict=True)]
        devices: defaultdict[str, float] = defaultdict(float)
        for sample in _samples(self.device_calls, "_total"):
            devices[sample.labels["device"]] += sample.value
        return counts | {
            "time": time.time(),
            "refused": sum(s.value for s in _samples(self.refusals, "_count")),
            # counts[i]: at most bounds[i] seconds (the last: more than every bound)
            "latency_s": {"bounds": list(LATENCY_BUCKETS), "counts": latency},
            "batch": _histogram(self.batch_size, BATCH_BUCKETS),
            "device_calls": dict(devices),
            "queued_work_s": next(_samples(self.queued_work, "")).value,
            "in_flight": next(_samples(self.in_flight, "")).value,
        }


def _samples(metric: Collector, suffix: str) -> Iterator[Any]:
    for family in metric.collect():
        yield from (s for s in family.samples if s.name == family.name + suffix)


def _histogram(metric: Histogram, bounds: tuple[float, ...]) -> dict[str, Any]:
    """A histogram's buckets summed over its labels, per bucket (not cumulative)."""
    cumulative = [0.0] * (len(bounds) + 1)
    for sample in _samples(metric, "_bucket"):
        le = sample.labels["le"]
        cumulative[len(bounds) if le == "+Inf" else bounds.index(float(le))] += sample.value
    counts = [b - a for a, b in zip([0.0, *cumulative[:-1]], cumulative, strict=True)]
    return {
        "bounds": list(bounds),
        "counts": counts,
        "sum": sum(s.value for s in _samples(metric, "_sum")),
    }
