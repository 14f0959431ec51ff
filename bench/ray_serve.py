"""`make bench-ray` (`python -m bench.ray_serve` in .venv-ray): the server alone, and the same
app under Ray Serve (deploy/ray/serve.yaml with one replica), given the same core: the server,
or every Ray process, on core 0; wrk on core 1. The same requests to each, one after the other,
and the ratio from that one run. Writes docs/benchmarks-ray.md.

What it measures is the price of Ray's hop (its HTTP proxy hands each request to the replica
over Ray's RPC), which buys Ray's routing, autoscaling and multi-node placement.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from bench.load import OURS, OURS_ENV, PORT, ROOT, SERVER_CORE, Result, server, wrk
from bench.payloads import infer_path, json_body, payloads, predict_path

RAY_PORT = PORT + 1
REPORT = ROOT / "docs" / "benchmarks-ray.md"
RAY_ENV = {"PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}


class RayServe:
    """Ray's processes are many; their CPU time is not counted (wrk's numbers only)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def cpu_seconds(self) -> float:
        return 0.0


def cases() -> list[tuple[str, str, bytes, dict[str, str], int]]:
    """(label, path, body, headers, connections); an empty body is a GET."""
    small, large, _ = payloads()
    return [
        ("GET /v2/health/live, c=1", "/v2/health/live", b"", {}, 1),
        (f"v1 json {small.label}, c=1", predict_path(small), *json_body(small), 1),
        (f"v1 json {small.label}, c=32", predict_path(small), *json_body(small), 32),
        (f"v1 json {large.label}, c=8", predict_path(large), *json_body(large), 8),
        (f"v2 binary {large.label}, c=8", infer_path(large), *large.v2_binary(), 8),
    ]


@contextmanager
def ray_serve(folder: Path) -> Iterator[RayServe]:
    """A one-node Ray cluster of one CPU, pinned to the server's core, serving
    deploy/ray/serve.yaml with one replica and in-memory sequence state."""
    config = yaml.safe_load((ROOT / "deploy/ray/serve.yaml").read_text())
    config["proxy_location"] = "HeadOnly"
    config["http_options"] |= {"host": "127.0.0.1", "port": RAY_PORT}
    (application,) = config["applications"]
    del application["runtime_env"]["env_vars"]["RNN_SERVE_STATE_URL"]
    application["runtime_env"]["env_vars"] |= OURS_ENV
    (deployment,) = application["deployments"]
    del deployment["autoscaling_config"]
    deployment["num_replicas"] = 1
    floor = {"name": "floor", "route_prefix": "/floor", "import_path": "bench.ray_floor:app"}
    config["applications"].append(floor)
    (folder / "serve.yaml").write_text(yaml.safe_dump(config))

    env = os.environ | RAY_ENV
    bin_dir = Path(sys.executable).parent
    ray = [str(bin_dir / "ray")]
    start = [*ray, "start", "--head", "--num-cpus", "1", "--include-dashboard", "false"]
    subprocess.run(["taskset", "-c", SERVER_CORE, *start], env=env, check=True, capture_output=True)
    try:
        deploy = [str(bin_dir / "serve"), "run", "--non-blocking", "--address", "auto"]
        subprocess.run([*deploy, str(folder / "serve.yaml")], env=env, check=True, cwd=ROOT)
        url = f"http://127.0.0.1:{RAY_PORT}"
        wait_ready(url + "/v2/health/ready")
        yield RayServe(url)
    finally:
        subprocess.run([*ray, "stop", "--force"], env=env, capture_output=True)


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:g} s")


def measure(target: object, seconds: float) -> dict[str, Result]:
    return {
        label: wrk(target, path, body, headers, connections, seconds)  # type: ignore[arg-type]
        for label, path, body, headers, connections in cases()
    }


def report(
    alone: dict[str, Result], under_ray: dict[str, Result], floor: Result, seconds: float
) -> str:
    lines = [
        "# rnn-serve alone and under Ray Serve",
        "",
        f"`make bench-ray`, one run, {seconds:g} s a case; the server (or every Ray process) on",
        "core 0, wrk on core 1; Ray Serve with one replica of deploy/ray/serve.yaml.",
        "",
        "| request | alone req/s | under Ray req/s | ratio | alone p50 / p99 ms "
        "| under Ray p50 / p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, mine in alone.items():
        ray = under_ray[label]
        lines.append(
            f"| {label} | {mine.requests_per_s:,.0f} | {ray.requests_per_s:,.0f} "
            f"| {ray.requests_per_s / mine.requests_per_s:.2f} "
            f"| {mine.p50_ms:.1f} / {mine.p99_ms:.1f} | {ray.p50_ms:.1f} / {ray.p99_ms:.1f} |"
        )
    errors = sum(r.errors for r in (*alone.values(), *under_ray.values(), floor))
    lines += [
        "",
        "Ray Serve's own floor, in the same cluster: a one-route FastAPI app answering a",
        f"constant (bench/ray_floor.py), GET at c=1: {floor.requests_per_s:,.0f} req/s, p50",
        f"{floor.p50_ms:.1f} ms, p99 {floor.p99_ms:.1f} ms.",
        "",
        f"Non-2xx answers or socket errors: {errors}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    if shutil.which("ray", path=str(Path(sys.executable).parent)) is None:
        raise SystemExit("Ray is not installed here: run `make bench-ray` (it uses .venv-ray)")
    with server(OURS, PORT, OURS_ENV, "/v2/health/ready") as alone_server:
        alone = measure(alone_server, args.seconds)
    with tempfile.TemporaryDirectory() as folder, ray_serve(Path(folder)) as ray_server:
        under_ray = measure(ray_server, args.seconds)
        floor = wrk(ray_server, "/floor/ping", b"", {}, 1, args.seconds)  # type: ignore[arg-type]
    text = report(alone, under_ray, floor, args.seconds)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
