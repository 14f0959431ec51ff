"""Every setting of the service, read once from RNN_SERVE_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.inference.providers import ProviderChoice


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RNN_SERVE_", extra="ignore")

    model_dir: Path = Field(
        default=Path("model/artifacts"),
        description="Directory of models: ONNX files with JSON manifests, or bare ONNX files.",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port to listen on.")
    provider: ProviderChoice = Field(
        default="auto", description="auto: CUDA when onnxruntime-gpu sees a GPU, else the CPU."
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
    max_body_bytes: int = Field(default=16 << 20, gt=0, description="Largest request body (413).")
    max_elements: int = Field(
        default=4_000_000, gt=0, description="Most input numbers in one request (413)."
    )
    max_batch: int = Field(default=4096, gt=0, description="Most sequences in one request.")
    max_steps: int = Field(default=100_000, gt=0, description="Most steps in one sequence.")
    max_horizon: int = Field(default=1000, gt=0, description="Longest forecast horizon.")
    graceful_timeout: int = Field(
        default=30, ge=0, description="Seconds to finish in-flight requests after SIGTERM."
    )
    state_url: str | None = Field(
        default=None,
        description="redis://host:port/db to share sequence state across replicas; "
        "unset: this process's memory.",
    )
    max_sequences: int = Field(
        default=100_000, gt=0, description="Live sequences kept in memory (least recent go)."
    )
    sequence_idle_timeout_s: float = Field(
        default=3600, gt=0, description="A sequence untouched this long is forgotten."
    )
    sequence_lock_timeout_s: float = Field(
        default=5, gt=0, description="Longest wait for another replica's request on a sequence."
    )
    proxy_headers: bool = Field(
        default=False,
        description="Trust X-Forwarded-For/Proto from 127.0.0.1 (turn on behind a reverse proxy).",
    )
    otel: bool = Field(
        default=False, description="FastAPI's native OpenTelemetry traces, metrics and logs."
    )
    log_level: str = Field(default="info", description="Python logging level.")

    @field_validator("model_dir")
    @classmethod
    def _model_dir_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"model directory {value} does not exist")
        return value

    def limits(self) -> dict[str, float]:
        """The limits clients can see in the metadata."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_elements": self.max_elements,
            "max_batch": self.max_batch,
            "max_steps": self.max_steps,
            "max_horizon": self.max_horizon,
            "max_sequences": self.max_sequences,
            "sequence_idle_timeout_s": self.sequence_idle_timeout_s,
        }
