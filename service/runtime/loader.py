"""Loads a model version: its manifest and ONNX files, checked against it, or a bare ONNX."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from rnn_serve.contract.intervals import Intervals
from rnn_serve.contract.manifest import Blend, Manifest, sha256_of
from rnn_serve.contract.preprocessing import SeriesTransform
from rnn_serve.service.errors import ModelLoadError
from rnn_serve.service.runtime.batch_graph import BatchGraph, build_at_load
from rnn_serve.service.runtime.predictor import Predictor
from rnn_serve.service.runtime.providers import Provider
from rnn_serve.service.runtime.repository import OnDisk, scan, version_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    sha256: str
    predictor: Predictor
    manifest: Manifest | None = None
    batch_graph: BatchGraph | None = None

    @cached_property
    def transform(self) -> SeriesTransform | None:
        if self.manifest is None or self.manifest.preprocessing is None:
            return None
        return SeriesTransform(self.manifest.preprocessing)

    def transform_for(self, ids: Sequence[str | None] | None) -> SeriesTransform | None:
        """The transform of rows of these series ids: each known id by its own statistics."""
        spec = self.manifest.preprocessing if self.manifest else None
        if ids is None or spec is None or not spec.series:
            return self.transform
        return SeriesTransform(spec, ids)

    @property
    def window(self) -> int | None:
        return self.manifest.window if self.manifest else None

    @property
    def intervals(self) -> Intervals | None:
        return self.manifest.intervals if self.manifest else None

    @property
    def lag(self) -> int:
        """Raw values a forecast needs before its first input (its differencing's lag)."""
        return self.transform.lag if self.transform else 0

    @property
    def blend(self) -> Blend | None:
        return self.manifest.blend if self.manifest else None

    @property
    def memory(self) -> int:
        """Raw values a stored sequence keeps for its next forecast: the lag, and the season
        that seasonal naive reads where the model blends it in."""
        return max(self.lag, self.blend.season if self.blend else 0)

    @property
    def can_forecast(self) -> bool:
        """Forecasting feeds outputs back as inputs, so they must have the same width."""
        sig = self.predictor.signature
        return (
            self.transform is not None
            and self.window is not None
            and (sig.output_width == sig.features)
        )


def load_all(
    model_dir: Path, load: Callable[[OnDisk], ServedModel]
) -> list[tuple[OnDisk, ServedModel]]:
    """Every version to serve of every model in ``model_dir``, each through ``load``; raises
    ModelLoadError naming the file on any fault (at start-up, a fault stops the service)."""
    found = scan(model_dir)
    for name, why in found.refused.items():
        raise ModelLoadError(f"model {name!r}: {why}")
    loaded: dict[tuple[str, str], tuple[OnDisk, ServedModel]] = {}
    for on_disk in found.versions:
        if (on_disk.name, on_disk.version) in loaded:
            raise ModelLoadError(
                f"two models are named {on_disk.name!r} (version {on_disk.version})"
            )
        loaded[on_disk.name, on_disk.version] = (on_disk, load(on_disk))
    if not loaded:
        raise ModelLoadError(f"no models found in {model_dir} (expected *.onnx, *.json)")
    return list(loaded.values())


def load_models(
    model_dir: Path, providers: Sequence[Provider], threads: int
) -> dict[str, ServedModel]:
    """The newest version of each model, by name (for benchmarks and tools)."""
    newest: dict[str, ServedModel] = {}
    for _, model in load_all(model_dir, lambda found: load_version(found, providers, threads)):
        known = newest.get(model.name)
        if known is None or version_key(model.version) > version_key(known.version):
            newest[model.name] = model
    return newest


def load_version(
    on_disk: OnDisk,
    providers: Sequence[Provider],
    threads: int,
    beside: Sequence[Provider] | None = None,
) -> ServedModel:
    """One version's graphs, checked against its manifest, on ``providers`` (and ``beside``
    them, on a second device); raises ModelLoadError saying why."""
    if on_disk.refused is not None:
        raise ModelLoadError(on_disk.refused)
    if not on_disk.has_manifest:
        built = build_at_load(on_disk.graph)
        predictor = _predictor(on_disk.graph, providers, threads, built, None, beside)
        model = ServedModel(
            on_disk.name, on_disk.version, sha256_of(on_disk.graph), predictor, batch_graph=built
        )
    else:
        model = _with_manifest(on_disk.graph, providers, threads, beside)
    log.info("loaded model %s v%s on %s", model.name, model.version, model.predictor.provider)
    return model


def _with_manifest(
    manifest_path: Path,
    providers: Sequence[Provider],
    threads: int,
    beside: Sequence[Provider] | None,
) -> ServedModel:
    manifest = _read_manifest(manifest_path)
    folder = manifest_path.parent
    onnx_path = folder / manifest.onnx_file
    _check_file(onnx_path, manifest.sha256)
    batch_graph: BatchGraph | None
    if manifest.batched is not None:
        batched_path = folder / manifest.batched.onnx_file
        _check_file(batched_path, manifest.batched.sha256)
        batch_graph = BatchGraph(batched_path, manifest.batched.min_batch, False)
    else:
        batch_graph = build_at_load(onnx_path)
    predictor = _predictor(onnx_path, providers, threads, batch_graph, manifest, beside)
    _check_shapes(manifest, predictor, onnx_path)
    return ServedModel(
        manifest.name, manifest.version, manifest.sha256, predictor, manifest, batch_graph
    )


def _predictor(
    path: Path,
    providers: Sequence[Provider],
    threads: int,
    batch_graph: BatchGraph | None,
    manifest: Manifest | None,
    beside: Sequence[Provider] | None,
) -> Predictor:
    batched = (batch_graph.graph, batch_graph.min_batch) if batch_graph else None
    names = manifest.io if manifest else None
    return Predictor.load(path, providers, threads, batched, names, beside)


def _read_manifest(path: Path) -> Manifest:
    try:
        return Manifest.read(path)
    except (ValidationError, OSError) as error:
        raise ModelLoadError(f"invalid manifest {path.name}: {error}") from error


def _check_file(onnx_path: Path, expected_sha256: str) -> None:
    if not onnx_path.is_file():
        raise ModelLoadError(f"model file {onnx_path.name} named by its manifest is missing")
    actual = sha256_of(onnx_path)
    if actual != expected_sha256:
        raise ModelLoadError(
            f"model file {onnx_path.name} does not match its manifest: sha256 {actual}, "
            f"expected {expected_sha256} (tampered or rebuilt without its manifest)"
        )


def _check_shapes(manifest: Manifest, predictor: Predictor, onnx_path: Path) -> None:
    sig = predictor.signature
    declared = (manifest.features, manifest.state_size)
    if declared != (sig.features, sig.state_size):
        raise ModelLoadError(
            f"model file {onnx_path.name}: manifest says features, state_size = {declared}, "
            f"the graph has {(sig.features, sig.state_size)}"
        )
