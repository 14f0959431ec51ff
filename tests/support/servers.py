"""Servers for the tests: the app in process (make_client) and a real `python -m rnn_serve.service`
process on 127.0.0.1 (Server), with the waits and checks the tests share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from fastapi.testclient import TestClient

from rnn_serve.service.app import create_app
from rnn_serve.service.settings import Settings
from tests.support.models import ARTIFACTS

ROOT = ARTIFACTS.parent.parent
# Load-shaped tests are sized for the CPU's speed (a GPU finishes their heavy calls before the
# test acts); what they test (admission, shutdown, the event loop) does not depend on the
# device, so on a GPU machine they pin the CPU.
ON_THE_CPU = {"RNN_SERVE_PROVIDER": "cpu"}


def make_client(**overrides: object) -> TestClient:
    """The app in process, its lifespan run; gRPC off unless ``grpc_port`` is given."""
    overrides.setdefault("grpc_port", 0)
    settings = Settings(model_dir=overrides.pop("model_dir", ARTIFACTS), **overrides)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real ``python -m rnn_serve.service`` process on 127.0.0.1 (or ``command``, given the same
    --host and --port)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # gRPC on a port of its own too, unless the test chose one (0: off)
        env = dict(os.environ if env is None else env)
        env.setdefault("RNN_SERVE_GRPC_PORT", str(free_port()))
        self.grpc = f"127.0.0.1:{env['RNN_SERVE_GRPC_PORT']}"
        # A file, not a pipe: an unread pipe fills up and stalls a server that logs every request.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [
                *(command or [sys.executable, "-m", "rnn_serve.service"]),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.stop()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        """Stops the server (SIGTERM) and returns everything it wrote."""
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.output()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


def assert_streamed_as_whole(answers: list[dict], whole: dict, steps: int) -> None:
    """A sequence's answers, streamed a chunk at a time, equal one request with every step:
    the outputs side by side, the final state, and the steps counted (none lost or twice)."""
    assert answers[-1]["sequence"]["steps"] == steps
    outputs = np.concatenate([np.array(answer["outputs"]) for answer in answers], axis=1)
    np.testing.assert_allclose(outputs, whole["outputs"], atol=1e-5)
    np.testing.assert_allclose(answers[-1]["state"], whole["state"], atol=1e-5)
