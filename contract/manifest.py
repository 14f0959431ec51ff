"""The manifest that travels beside each ONNX file: what the model is and how to feed it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from rnn_serve.contract.intervals import Intervals
from rnn_serve.contract.layers import LayerSpec
from rnn_serve.contract.names import INITIAL_STATE, INPUTS, OUTPUTS, STATE


class Scale(BaseModel):
    """One series' standardisation: (difference - mean) / std."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    std: float = Field(gt=0)


class Preprocessing(BaseModel):
    """Raw series -> model inputs: a log (optional), a difference (at lag 1, or at the season's
    lag), then standardisation: by the statistics of the series' id in ``series`` when a request
    names one the model was trained on, otherwise by ``mean`` and ``std``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    difference: int = Field(ge=0, le=1, description="Order of differencing applied first.")
    mean: float = Field(description="Mean of the differenced training data.")
    std: float = Field(gt=0, description="Standard deviation of the differenced training data.")
    seasonal: int | None = Field(
        default=None, ge=2, description="Difference at this lag (the season) instead of 1."
    )
    log: bool = Field(default=False, description="Take logs first (positive series only).")
    series: dict[str, Scale] | None = Field(
        default=None, description="Per series id, its own mean and std (a model of many series)."
    )

    @model_validator(mode="after")
    def _one_difference(self) -> Preprocessing:
        if self.seasonal is not None and self.difference:
            raise ValueError("difference and seasonal: one differencing, not both")
        return self


# From batch 4 on the loop graph beat ONNX Runtime's RNN operator on the CPU (python -m
# bench.core); the service measures its own crossover at start-up and starts from this.
DEFAULT_MIN_BATCH = 4


Weights = list[Annotated[float, Field(ge=0, le=1)]]


class Blend(BaseModel):
    """Served forecasts as ``w * network + (1 - w) * seasonal naive`` at each horizon step, with
    the weights ``rnn-serve train`` chose on validation (the last one past them): 0 where no
    network beat seasonal naive in every validation period there (contract/forecast.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    season: int = Field(ge=1, description="Seasonal naive's lag (1: the last value).")
    weights: Weights = Field(
        min_length=1, description="The network's weight at steps 1, 2, ...; 1 - w is naive's."
    )
    series: dict[str, Weights] | None = Field(
        default=None, description="Weights of each series id the model was trained on."
    )

    def for_rows(self, ids: Sequence[str | None] | None, rows: int) -> list[Weights]:
        """Each row's weights: its series' own, or the pooled ones."""
        known = self.series or {}
        if ids is None:
            return [self.weights] * rows
        return [known.get(name, self.weights) if name else self.weights for name in ids]


class BatchedGraph(BaseModel):
    """A second graph of the same weights that is faster for large batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onnx_file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    min_batch: int = Field(ge=2, description="Used for batches of at least this many rows.")


class TensorNames(BaseModel):
    """The graph's own names for the four tensors of the contract, when they differ from ours
    (a converted ONNX file keeps its names; the service maps them at load)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: str = INPUTS
    initial_state: str = INITIAL_STATE
    outputs: str = OUTPUTS
    state: str = STATE


class Source(BaseModel):
    """The file a converted model came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    framework: str
    framework_version: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str
    version: str
    onnx_file: str = Field(description="ONNX file name, relative to the manifest.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    features: int = Field(gt=0)
    # Manifests before stacked layers called the state's width hidden_size.
    state_size: int = Field(gt=0, validation_alias=AliasChoices("state_size", "hidden_size"))
    output_size: int | None = Field(default=None, gt=0)
    layers: list[LayerSpec] | None = Field(
        default=None, description="The recurrent layers in order; their states make `state`."
    )
    head: list[int] | None = Field(
        default=None, description="Output widths of the dense layers applied to every step."
    )
    io: TensorNames = Field(default_factory=TensorNames)
    window: int | None = Field(
        default=None, gt=0, description="Raw observations a forecast reads (the last ones)."
    )
    preprocessing: Preprocessing | None = None
    blend: Blend | None = None
    batched: BatchedGraph | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    intervals: Intervals | None = None
    source: Source | None = None
    command: str = Field(default="", description="The command that rebuilds this artifact.")

    @model_validator(mode="after")
    def _blend_reads_a_season(self) -> Manifest:
        if self.blend is not None and (self.window is None or self.window < self.blend.season):
            raise ValueError(f"blend: a season of {self.blend.season} needs a window that long")
        return self

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
