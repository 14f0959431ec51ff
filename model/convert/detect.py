"""Which framework wrote a file, from its content (names lie: a .pt may be a zip or a pickle)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Literal

from rnn_serve.model.convert.errors import ConversionError

Framework = Literal["keras", "pytorch", "onnx"]
HDF5 = b"\x89HDF\r\n\x1a\n"
PICKLE = b"\x80"


def framework_of(path: Path) -> Framework:
    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(HDF5):
        return "keras"  # legacy .h5: Keras' loader says if it is not a model
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch"
        raise ConversionError(
            f"{path.name}: a zip archive, but neither a .keras model nor torch.save output"
        )
    if head.startswith(PICKLE):
        return "pytorch"  # torch.save with the legacy (pickle) format
    if _is_onnx(path):
        return "onnx"
    raise ConversionError(
        f"{path.name}: not a Keras model (.keras, .h5), a PyTorch state_dict or an ONNX file"
    )


def _is_onnx(path: Path) -> bool:
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception:
        return False
    return bool(model.graph.node) and bool(model.opset_import)
