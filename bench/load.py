"""Pinned servers and a pinned wrk: the server gets core 0, the load generator core 1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"
PORT = 18765
OURS = [sys.executable, "-m", "rnn_serve.service", "--port", str(PORT)]
OURS_ENV = {"RNN_SERVE_ORT_THREADS": "1", "RNN_SERVE_LOG_LEVEL": "warning"}
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@contextmanager
def server(
    command: list[str],
    port: int,
    env: dict[str, str],
    ready_path: str,
    cores: str = SERVER_CORE,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Starts ``command`` in ``cwd``, pinned to ``cores``, and waits until ``ready_path``
    answers. Its logs go to a file, as a container's do: a pipe nobody reads would block it."""
    pinned = ["taskset", "-c", cores, *command]
    with tempfile.TemporaryFile() as logs:
        process = subprocess.Popen(
            pinned, cwd=cwd, env=os.environ | env, stdout=logs, stderr=subprocess.STDOUT
        )
        running = Server(process, f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    logs.seek(0)
                    raise RuntimeError(logs.read().decode()[-4000:] or "exited")
                try:
                    if httpx.get(running.url + ready_path, timeout=1).status_code < 500:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield running
        finally:
            process.terminate()
            process.wait(timeout=30)


def uvicorn(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def wrk(
    target: Server,
    path: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    script: str = "post.lua",
    script_env: dict[str, str] | None = None,
) -> Result:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does this)")
    with tempfile.NamedTemporaryFile(suffix=".body") as body_file:
        body_file.write(body)
        body_file.flush()
        env = (
            os.environ
            | {
                "WRK_BODY": body_file.name,
                "WRK_CONTENT_TYPE": "application/octet-stream" if headers else "application/json",
                "WRK_HEADER_LENGTH": headers.get("Inference-Header-Content-Length", ""),
            }
            | (script_env or {})
        )
        command = [
            "taskset",
            "-c",
            LOAD_CORE,
            binary,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / script),
            target.url + path,
        ]
        cpu_before = target.cpu_seconds()
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        cpu_after = target.cpu_seconds()
    return _parse(output.stdout, cpu_after - cpu_before)


def _parse(text: str, cpu_seconds: float) -> Result:
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    return Result(
        requests_per_s=rate,
        p50_ms=_latency(text, "50%"),
        p99_ms=_latency(text, "99%"),
        cpu_ms_per_request=1000 * cpu_seconds / max(total, 1),
        errors=int(errors.group(1)) if errors else 0 + (1 if socket_errors else 0),
    )


def _latency(text: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
