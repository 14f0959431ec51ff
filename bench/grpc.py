"""gRPC beside REST with binary tensors, in one run: the server pinned to core 0, the load on
core 1. Writes docs/benchmarks-grpc.md; part of `make bench`.

    python -m bench.grpc            # about a minute
    python -m bench.grpc --smoke    # one-second cases, no file

REST is driven by wrk (C); gRPC by a Python client (grpc.aio, tritonclient's generated stubs),
which may run out of its core before the server does: so beside req/s each case gives the
server's CPU per request, which does not depend on the client. Then a sequence of 1,000 steps,
one step a request and each waiting for its answer: over one gRPC stream, and as unary /v2
calls over one kept-alive connection (the same Python client library for both sides' work:
httpx).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import httpx
import numpy as np
import orjson
from tritonclient.grpc import service_pb2, service_pb2_grpc

from bench.load import (
    LOAD_CORE,
    OURS,
    OURS_ENV,
    PORT,
    ROOT,
    SERVER_CORE,
    Result,
    Server,
    server,
    wrk,
)
from bench.payloads import Payload, infer_path, payloads

GRPC_PORT = PORT + 1
REPORT = ROOT / "docs" / "benchmarks-grpc.md"
CONNECTIONS = 8
STEPS = 1000


def request(payload: Payload, **parameters: object) -> service_pb2.ModelInferRequest:
    message = service_pb2.ModelInferRequest(model_name=payload.model)
    message.inputs.add(name="inputs", datatype="FP32", shape=list(payload.array.shape))
    message.raw_input_contents.append(payload.array.astype("<f4").tobytes())
    for name, value in parameters.items():
        if isinstance(value, bool):
            message.parameters[name].bool_param = value
        else:
            message.parameters[name].string_param = str(value)
    return message


async def _load(
    target: str, message: service_pb2.ModelInferRequest, seconds: float, streamed: bool
) -> list[float]:
    """Each of CONNECTIONS clients sends ``message`` and waits for its answer, again and again:
    as unary calls, or on a stream of its own; every call's latency."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        deadline, latencies = time.perf_counter() + seconds, []

        async def worker() -> None:
            stream = stub.ModelStreamInfer() if streamed else None
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if stream is None:
                    await stub.ModelInfer(message)
                else:
                    await stream.write(message)
                    answer = await stream.read()
                    assert not answer.error_message, answer.error_message
                latencies.append(time.perf_counter() - started)
            if stream is not None:
                await stream.done_writing()

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return latencies


def driven(ours: Server, drive: object, *args: object) -> Result:
    """Runs a gRPC load on the load generator's core; its rate, latency and the server's CPU."""
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    try:
        before, started = ours.cpu_seconds(), time.perf_counter()
        latencies = asyncio.run(drive(*args))  # type: ignore[operator]
        elapsed, cpu = time.perf_counter() - started, ours.cpu_seconds() - before
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    ordered = sorted(latencies)
    return Result(
        requests_per_s=len(ordered) / elapsed,
        p50_ms=1000 * ordered[len(ordered) // 2],
        p99_ms=1000 * ordered[int(len(ordered) * 0.99)],
        cpu_ms_per_request=1000 * cpu / len(ordered),
        errors=0,
    )


@contextmanager
def floor_server(port: int) -> Iterator[Server]:
    """bench/grpc_floor.py on the server's core, once it answers ServerReady."""
    command = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "bench.grpc_floor", str(port)]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield Server(process, "")
    finally:
        process.terminate()
        process.wait(timeout=30)


def sequence_steps(ours: Server, target: str, steps: int) -> tuple[float, float]:
    """Milliseconds per step of one sequence: over one gRPC stream, and as unary /v2 calls."""
    payload = Payload("step", "seed-demo", np.ones((1, 1, 3), np.float32))
    sequence = uuid.uuid4().hex

    async def streamed() -> float:
        async with grpc.aio.insecure_channel(target) as channel:
            stream = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer()
            started = time.perf_counter()
            for step in range(steps):
                flags = {"sequence_start": step == 0, "sequence_end": step == steps - 1}
                await stream.write(request(payload, sequence_id="g" + sequence, **flags))
                answer = await stream.read()
                assert not answer.error_message, answer.error_message
            await stream.done_writing()
            return (time.perf_counter() - started) / steps

    with httpx.Client(base_url=ours.url) as client:
        started = time.perf_counter()
        for step in range(steps):
            flags = {"sequence_start": step == 0, "sequence_end": step == steps - 1}
            body, headers = rest_step(payload, {"sequence_id": "h" + sequence, **flags})
            answer = client.post(infer_path(payload), content=body, headers=headers)
            assert answer.status_code == 200, answer.text
        unary = (time.perf_counter() - started) / steps
    return 1000 * asyncio.run(streamed()), 1000 * unary


def rest_step(payload: Payload, parameters: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    """A /v2 request with binary tensors both ways and these request parameters."""
    raw = payload.array.astype("<f4").tobytes()
    tensor = {"name": "inputs", "shape": list(payload.array.shape), "datatype": "FP32"}
    header = orjson.dumps(
        {
            "inputs": [tensor | {"parameters": {"binary_data_size": len(raw)}}],
            "parameters": parameters | {"binary_data_output": True},
        }
    )
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    seconds = 1 if args.smoke else args.seconds
    cases = [p for p in payloads() if p.name in ("small", "large")]
    target = f"127.0.0.1:{GRPC_PORT}"
    rows, found = [], {}
    env = OURS_ENV | {"RNN_SERVE_GRPC_PORT": str(GRPC_PORT)}
    with server(OURS, PORT, env, "/v2/health/ready") as ours:
        for payload in cases:
            body, headers = payload.v2_binary()
            message = request(payload)
            results = {
                "REST /v2 binary (wrk)": wrk(
                    ours, infer_path(payload), body, headers, CONNECTIONS, seconds
                ),
                "gRPC unary": driven(ours, _load, target, message, seconds, False),
                "gRPC streamed": driven(ours, _load, target, message, seconds, True),
            }
            found[payload.name] = results
            for name, result in results.items():
                rows.append(
                    f"| {payload.label} | {name} | {result.requests_per_s:,.0f} | "
                    f"{result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.cpu_ms_per_request:.3f} |"
                )
        stream_ms, unary_ms = sequence_steps(ours, target, 100 if args.smoke else STEPS)
    with floor_server(GRPC_PORT) as bare:
        for payload in cases:
            result = driven(bare, _load, target, request(payload), seconds, False)
            found[payload.name]["floor"] = result
            rows.append(
                f"| {payload.label} | gRPC unary, bare grpc.aio server (empty ModelInfer) | "
                f"{result.requests_per_s:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | "
                f"{result.cpu_ms_per_request:.3f} |"
            )
    lines = [
        f"c={CONNECTIONS}, {seconds:g} s a case:",
        "",
        "| payload | protocol | req/s | p50 ms | p99 ms | server CPU ms/req |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"A sequence of {100 if args.smoke else STEPS} steps, one request a step: "
        f"{stream_ms:.3f} ms a step over one gRPC stream, {unary_ms:.3f} ms as unary /v2 calls "
        f"({unary_ms / stream_ms:.2f}x).",
        "",
        "Against the targets (server CPU per request, which the client does not bound):",
    ]
    small_work = found["small"]["REST /v2 binary (wrk)"].cpu_ms_per_request
    for name, target_ratio in (("large", 1.0), ("small", 0.8)):
        rest, ours_ = found[name]["REST /v2 binary (wrk)"], found[name]["gRPC unary"]
        # The least a unary call of this payload can cost over grpc.aio: the bare server's
        # call, plus the work this payload adds over a small one (REST's difference).
        least = found[name]["floor"].cpu_ms_per_request + rest.cpu_ms_per_request - small_work
        lines.append(
            f"- {name}: REST's CPU per request / gRPC's = "
            f"{rest.cpu_ms_per_request / ours_.cpu_ms_per_request:.2f} (target "
            f"{target_ratio:.1f}); at best, over grpc.aio: "
            f"{rest.cpu_ms_per_request / least:.2f}"
        )
    lines.append(
        f"- a streamed step against a unary REST step: {unary_ms / stream_ms:.2f}x (target 1.5)"
    )
    print("\n".join(lines))
    if not args.smoke:
        REPORT.write_text(
            "# gRPC beside REST\n\nMeasured by `make bench` (`python -m bench.grpc`), all in one "
            "run; bench/grpc.py says how.\n\n" + "\n".join(lines) + "\n"
        )


if __name__ == "__main__":
    main()
