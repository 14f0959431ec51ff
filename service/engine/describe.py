"""What a served model is, for the metadata routes (/v1/models, /v2/models/NAME): read from
its manifest, its graph's signature and its predictor, in the API's words."""

from __future__ import annotations

from typing import Any

from rnn_serve.contract.intervals import Intervals
from rnn_serve.contract.layers import state_layout
from rnn_serve.contract.manifest import Manifest
from rnn_serve.service.runtime.loader import ServedModel


def describe(model: ServedModel) -> dict[str, Any]:
    sig = model.predictor.signature
    manifest = model.manifest
    layers = manifest.layers if manifest else None
    return {
        "name": model.name,
        "version": model.version,
        "features": sig.features,
        "state_size": sig.state_size,
        # The last layer's width (the outputs' width without a head); for one layer, the
        # state's width, which is what this field meant before stacked layers.
        "hidden_size": layers[-1].hidden_size if layers else sig.state_size,
        "output_size": sig.output_width,
        "cells": [layer.cell for layer in layers] if layers else None,
        "num_layers": len(layers) if layers else None,
        "layers": [layer.model_dump(exclude_none=True) for layer in layers] if layers else None,
        "state_layout": _layout(layers, sig.state_size),
        "head": manifest.head if manifest else None,
        "projection": manifest.output_size is not None if manifest else None,
        "accepts_initial_state": sig.has_initial_state,
        "can_forecast": model.can_forecast,
        "window": model.window,
        "preprocessing": manifest.preprocessing.model_dump()
        if manifest and manifest.preprocessing
        else None,
        "sha256": model.sha256,
        "batched_graph": model.batch_graph.describe(
            manifest.batched.sha256 if manifest and manifest.batched else None,
            model.predictor.min_batch,
            model.predictor.min_batch_long,
        )
        if model.batch_graph
        else None,
        "provider": model.predictor.provider,
        "devices": model.predictor.devices(),
        "device_crossover_rows": model.predictor.crossover_rows(),
        "inputs": [spec.describe() for spec in sig.inputs],
        "outputs": [spec.describe() for spec in sig.outputs],
        "metrics": manifest.metrics if manifest else {},
        "training": _training(manifest),
        "intervals": _intervals(model.intervals),
        "source": "manifest" if manifest else "bare onnx",
        "converted_from": manifest.source.model_dump() if manifest and manifest.source else None,
    }


def _training(manifest: Manifest | None) -> dict[str, Any] | None:
    """What `rnn-serve train` chose and from what, and the series ids a request may name."""
    if manifest is None or "chosen" not in manifest.training:
        return None
    keys = ("chosen", "search", "season", "horizon", "blend")  # blend: since train blends
    found = {key: manifest.training[key] for key in keys if key in manifest.training}
    scales = manifest.preprocessing.series if manifest.preprocessing else None
    return found | {"series_ids": sorted(scales) if scales else None}


def _intervals(intervals: Intervals | None) -> dict[str, Any] | None:
    if intervals is None:
        return None
    return {
        "levels": intervals.levels,
        "horizon": intervals.horizon,
        "coverage_on_test_period": intervals.coverage,
        "method": intervals.method,
    }


def _layout(layers: Any, state_size: int) -> list[dict[str, Any]] | None:
    if not layers or sum(layer.state_size for layer in layers) != state_size:
        return None
    return [part.model_dump() for part in state_layout(layers)]
