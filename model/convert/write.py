"""Writes a converted model: NAME.onnx, NAME.scan.onnx (its batch graph, when it has one) and
NAME.json, the manifest last, each through a temporary file and a rename, so that a reader
(the service, polling) never sees half a model, and a refusal leaves nothing behind."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx

from rnn_serve.contract.manifest import DEFAULT_MIN_BATCH, BatchedGraph, Manifest, sha256_of


@dataclass(frozen=True)
class Written:
    onnx_file: str
    sha256: str
    batched: BatchedGraph | None


def write_graphs(out: Path, name: str, native: bytes, loop: onnx.ModelProto | None) -> Written:
    out.mkdir(parents=True, exist_ok=True)
    native_path = _replace(out / f"{name}.onnx", native)
    loop_path = out / f"{name}.scan.onnx"
    batched = None
    if loop is not None:
        _replace(loop_path, loop.SerializeToString())
        batched = BatchedGraph(
            onnx_file=loop_path.name, sha256=sha256_of(loop_path), min_batch=DEFAULT_MIN_BATCH
        )
    else:
        loop_path.unlink(missing_ok=True)  # an earlier conversion's, now unclaimed
    return Written(native_path.name, sha256_of(native_path), batched)


def write_manifest(out: Path, manifest: Manifest) -> None:
    _replace(out / f"{manifest.name}.json", (manifest.model_dump_json(indent=2) + "\n").encode())


def _replace(path: Path, content: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
    return path
