"""Every setting of the service, read once from RNN_SERVE_* environment variables."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Defined here, not beside the providers, so that reading settings never loads ONNX Runtime
# (the container health probe reads them every few seconds).
ProviderChoice = Literal["auto", "cpu", "cuda"]
ModelControl = Literal["none", "poll", "explicit"]


ENV_PREFIX = "RNN_SERVE_"
# The example models travel with the package (package data): beside service/, in the repository
# and in site-packages alike.
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "model" / "artifacts"
STATE_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")
# The longest inference run on the event loop by default: a hop to a thread and back costs
# tens of microseconds; on a single core the thread cannot run beside the loop anyway.
INLINE_US, ONE_CORE_INLINE_US = 200, 2000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    model_dir: Path = Field(
        default=SHIPPED_MODELS,
        description=(
            "Directory of models: ONNX files with JSON manifests, or bare ONNX files, flat or in "
            "NAME/VERSION/ folders. By default the example models shipped in the package "
            "(model/artifacts), whatever the working directory."
        ),
    )
    model_control: ModelControl = Field(
        default="none",
        description="What may change the served models while serving, as Triton's model "
        "control modes: none (the models found at start-up, load and unload refused), poll "
        "(the model directory read again every RNN_SERVE_MODEL_POLL_S), explicit (load and "
        "unload requests, with an admin key; without admin keys only on a loopback address).",
    )
    model_poll_s: float = Field(
        default=5,
        gt=0,
        description="With RNN_SERVE_MODEL_CONTROL=poll, read the model directory this often "
        "(seconds): load new or changed versions, unload removed ones.",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port to listen on.")
    grpc_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol over gRPC (Triton's and KServe's "
        "clients), on the same address; 0 turns gRPC off.",
    )
    provider: ProviderChoice = Field(
        default="auto",
        description=(
            "auto: with onnxruntime-gpu and a GPU, CUDA and the CPU side by side (each call "
            "where it finishes sooner), else the CPU; cpu; cuda: CUDA alone, refusing to start "
            "without it."
        ),
    )
    cuda_tf32: bool = Field(
        default=False,
        description="Let CUDA round matrix products to TF32: faster on large models, but "
        "answers moved by up to 4.5e-3 against the CPU's in the one run on a GPU (off: "
        "within 2.5e-6).",
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="uvicorn worker processes. Each loads every model and keeps its own "
        "metrics and in-memory sequences: with more than one, use RNN_SERVE_STATE_URL.",
    )
    ort_threads: int = Field(
        default=1, ge=0, description="ONNX Runtime intra-op threads per session (0: all cores)."
    )
    inference_threads: int = Field(
        default=1,
        ge=1,
        description="Threads that run inferences off the event loop (per process; one is "
        "best when ONNX Runtime's own threads or more worker processes use the cores).",
    )
    body_workers: int = Field(
        default=2,
        ge=0,
        description="Worker processes (per server process) that read large JSON bodies and "
        "write large answers beside the event loop, which would otherwise stop while they "
        "hold the interpreter lock (0: on the inference threads).",
    )
    inline_inference_us: int | None = Field(
        default=None,
        ge=0,
        description="Inferences expected (from timings at start-up) to take at most this "
        "long run on the event loop, skipping the hop to an inference thread (0: never). By "
        "default 200, or 2000 where the process may run on one core alone (its CPU affinity, "
        "as taskset or a cpuset sets it): there a thread lets nothing else run meanwhile, "
        "and its hop only adds cost.",
    )
    max_pending: int = Field(
        default=512,
        gt=0,
        description="Requests to models admitted and not yet answered; past it, an immediate 503.",
    )
    max_queue_ms: float = Field(
        default=500,
        gt=0,
        description="Longest expected wait for a request when it arrives (the work already "
        "admitted, by the timings at start-up, at the pace measured under load); past it, an "
        "immediate 503.",
    )
    inference_timeout_s: float = Field(
        default=30, gt=0, description="A request's inference deadline (504 past it)."
    )
    max_connections: int = Field(
        default=2048,
        gt=0,
        description="Open HTTP connections served at once; past it, requests get a 503 "
        "(health probes excepted).",
    )
    header_timeout_s: float = Field(
        default=10,
        gt=0,
        description="Longest wait for a request's headers, from the connection's start or "
        "the request's first byte (408, and the connection closed).",
    )
    body_idle_timeout_s: float = Field(
        default=10, gt=0, description="Longest wait for the next part of a request body (408)."
    )
    body_timeout_s: float = Field(
        default=120, gt=0, description="Longest time to receive a whole request body (408)."
    )
    keepalive_timeout_s: float = Field(
        default=5, gt=0, description="An idle kept-alive connection is closed after this."
    )
    max_header_bytes: int = Field(
        default=32 << 10, gt=0, description="Largest request line and headers together (431)."
    )
    max_headers: int = Field(default=100, gt=0, description="Most request headers (431).")
    batching: bool = Field(
        default=True, description="Coalesce concurrent predictions into one ONNX Runtime call."
    )
    batch_max_sequences: int = Field(
        default=256, gt=0, description="Most sequences (rows) in one coalesced call."
    )
    batch_max_delay_us: int = Field(
        default=0,
        ge=0,
        description="Microseconds to wait for more requests before a batch runs (0: none).",
    )
    max_body_bytes: int = Field(
        default=16 << 20,
        gt=0,
        description="Largest request body, after decompression for a gzip or deflate one (413).",
    )
    max_inflight_bytes: int = Field(
        default=256 << 20,
        gt=0,
        description="Bytes of request bodies received and not yet answered, counted as they "
        "arrive; past it, a 503.",
    )
    max_elements: int = Field(
        default=4_000_000, gt=0, description="Most input numbers in one request (413)."
    )
    max_batch: int = Field(default=4096, gt=0, description="Most sequences in one request.")
    max_steps: int = Field(default=100_000, gt=0, description="Most steps in one sequence.")
    max_horizon: int = Field(default=1000, gt=0, description="Longest forecast horizon.")
    drain_s: float = Field(
        default=0,
        ge=0,
        description="On SIGTERM, fail readiness at once and keep serving this long (answers "
        "close their connections) before shutting down; 0: shut down at once.",
    )
    graceful_timeout: int = Field(
        default=30, ge=0, description="Seconds to finish in-flight requests after SIGTERM."
    )
    state_url: str | None = Field(
        default=None,
        description="redis://[user:password@]host:port/db (rediss:// for TLS) to share "
        "sequence state across replicas, "
        "redis+cluster://host:port for a Redis Cluster, redis+sentinel://host:port[,...]/master "
        "for a master its sentinels follow; unset: this process's memory.",
    )
    state_replicas: int = Field(
        default=0,
        ge=0,
        description="With Redis (not a cluster): answer a sequence step only once this many "
        "replicas have its write (Redis WAIT), so that a master killed right after it loses "
        "nothing; a write not acknowledged within the lock timeout is a 503 (retry with the "
        "same Idempotency-Key). 0: asynchronous replication.",
    )
    max_sequences: int = Field(
        default=100_000,
        gt=0,
        description="Live sequences kept in memory, without RNN_SERVE_STATE_URL (least recent go).",
    )
    sequence_idle_timeout_s: float = Field(
        default=3600, gt=0, description="A sequence untouched this long is forgotten."
    )
    sequence_lock_timeout_s: float = Field(
        default=5, gt=0, description="Longest wait for another replica's request on a sequence."
    )
    stream_credits: int = Field(
        default=32,
        gt=0,
        description="Steps a WebSocket stream's client may send ahead of their answers; past "
        "them the stream closes (1008).",
    )
    stream_max_frame_bytes: int = Field(
        default=1 << 20,
        gt=0,
        description="Largest WebSocket frame; past it the stream closes (1009).",
    )
    stream_idle_timeout_s: float = Field(
        default=300, gt=0, description="A WebSocket stream with no frame this long closes (4408)."
    )
    proxy_headers: bool = Field(
        default=False,
        description="Trust X-Forwarded-For/Proto from 127.0.0.1 (turn on behind a reverse proxy).",
    )
    api_keys: str = Field(
        default="",
        description="Comma-separated API keys; when any is set (here or in api_key_file), "
        "every route but health, the docs page and its assets needs Authorization: Bearer "
        "<key>.",
    )
    api_key_file: Path | None = Field(
        default=None, description="A file of API keys, one a line; lines starting with # skipped."
    )
    admin_keys: str = Field(
        default="",
        description="Comma-separated keys that may also load and unload models (with "
        "RNN_SERVE_MODEL_CONTROL=explicit); nothing else may. Admin keys are API keys too.",
    )
    access_log: bool = Field(default=True, description="One JSON log line per request.")
    console: bool = Field(
        default=True,
        description="The web console at /console: a static page whose data come from the API, "
        "behind the same keys.",
    )
    otel: bool = Field(
        default=False,
        description="OpenTelemetry traces for providers the process configured itself "
        "(opentelemetry-instrument, say). Without it, traces follow the standard variables: "
        "on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, "
        "exported over OTLP/HTTP.",
    )
    log_level: str = Field(default="info", description="Python logging level.")

    @field_validator("model_dir")
    @classmethod
    def _model_dir_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"model directory {value} does not exist")
        return value

    @field_validator("state_url")
    @classmethod
    def _state_url_is_redis(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme, _, rest = value.partition("://")
        if scheme not in STATE_SCHEMES:
            raise ValueError(f"{value!r}: the scheme must be one of {', '.join(STATE_SCHEMES)}")
        if scheme == "redis+sentinel" and not rest.partition("/")[2]:
            raise ValueError(
                f"{value!r}: name the master, as in redis+sentinel://host:port/mymaster"
            )
        return value

    @field_validator("api_keys", "admin_keys")
    @classmethod
    def _keys_are_keys(cls, value: str, info: ValidationInfo) -> str:
        """Fails closed: a key list that would quietly turn authentication off, or hold a key
        no client could mean, stops the start."""
        if not value.strip():
            return value
        setting = f"{ENV_PREFIX}{str(info.field_name).upper()}"
        for key in value.split(","):
            if not key.strip():
                raise ValueError(f"{setting} holds an empty key (two commas, or one at an end)")
            if key.strip().startswith("#"):
                raise ValueError(f"{setting}: a key may not start with '#' (it reads as a comment)")
        return value

    @model_validator(mode="after")
    def _model_control_is_safe(self) -> Settings:
        if "model_poll_s" in self.model_fields_set and self.model_control != "poll":
            raise ValueError(
                f"{ENV_PREFIX}MODEL_POLL_S is set but {ENV_PREFIX}MODEL_CONTROL is "
                f"{self.model_control!r}: set {ENV_PREFIX}MODEL_CONTROL=poll to poll"
            )
        if self.state_replicas and (self.state_url or "").startswith("redis+cluster"):
            raise ValueError(
                f"{ENV_PREFIX}STATE_REPLICAS is not supported with a Redis Cluster: use a "
                "master with sentinels (redis+sentinel://)"
            )
        if self.model_control == "explicit" and not self.admin() and not is_loopback(self.host):
            raise ValueError(
                f"{ENV_PREFIX}MODEL_CONTROL=explicit lets clients load and unload models: on "
                f"{self.host}, which is not a loopback address, it needs {ENV_PREFIX}ADMIN_KEYS"
            )
        return self

    @field_validator("api_key_file")
    @classmethod
    def _key_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"API key file {value} does not exist")
        return value

    def admin(self) -> list[str]:
        return [key.strip() for key in self.admin_keys.split(",") if key.strip()]

    def keys(self) -> list[str]:
        keys = [key.strip() for key in self.api_keys.split(",")] + self.admin()
        if self.api_key_file is not None:
            lines = [line.strip() for line in self.api_key_file.read_text().splitlines()]
            keys += [line for line in lines if not line.startswith("#")]
        return [key for key in keys if key]

    def inline_inference_s(self) -> float:
        """The longest inference that runs on the event loop (inline_inference_us)."""
        if self.inline_inference_us is not None:
            return self.inline_inference_us / 1e6
        return (ONE_CORE_INLINE_US if usable_cores() == 1 else INLINE_US) / 1e6

    def limits(self) -> dict[str, float]:
        """The limits clients can see in the metadata."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_inflight_bytes": self.max_inflight_bytes,
            "max_elements": self.max_elements,
            "max_batch": self.max_batch,
            "max_steps": self.max_steps,
            "max_horizon": self.max_horizon,
            "max_sequences": self.max_sequences,
            "max_pending": self.max_pending,
            "max_queue_ms": self.max_queue_ms,
            "inference_timeout_s": self.inference_timeout_s,
            "sequence_idle_timeout_s": self.sequence_idle_timeout_s,
        }


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, where the system has one."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def configured_model_dir() -> Path:
    """Where `rnn-serve convert` and `train` write by default: the model directory as configured
    (without reading or validating the other settings), else model/artifacts under the working
    directory (never the package's own folder, which may be site-packages)."""
    return Path(os.environ.get(f"{ENV_PREFIX}MODEL_DIR", "model/artifacts"))
