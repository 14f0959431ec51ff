"""The manifest that travels beside each ONNX file: what the model is and how to feed it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Preprocessing(BaseModel):
    """Raw series -> model inputs: difference ``difference`` times, then standardise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    difference: int = Field(ge=0, le=1, description="Order of differencing applied first.")
    mean: float = Field(description="Mean of the differenced training data.")
    std: float = Field(gt=0, description="Standard deviation of the differenced training data.")


class BatchedGraph(BaseModel):
    """A second graph of the same weights that is faster for large batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onnx_file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    min_batch: int = Field(ge=2, description="Used for batches of at least this many rows.")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str
    version: str
    onnx_file: str = Field(description="ONNX file name, relative to the manifest.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    features: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    output_size: int | None = Field(default=None, gt=0)
    window: int | None = Field(
        default=None, gt=0, description="Raw observations a forecast reads (the last ones)."
    )
    preprocessing: Preprocessing | None = None
    batched: BatchedGraph | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    command: str = Field(default="", description="The command that rebuilds this artifact.")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.model_validate_json(path.read_bytes())

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
