"""A PyTorch ``state_dict`` of one ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (batch_first, any
depth) and optionally one ``nn.Linear`` head, read as a Stack.

A state_dict holds only tensors, so the cell, sizes and depth are read off their names and
shapes: ``weight_ih_l{k}`` has gates * hidden rows (1 for RNN, 3 for GRU, 4 for LSTM). The
Elman cell's nonlinearity is not in the tensors; it is a flag (tanh unless told).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from rnn_serve.graphs.stack import Dense, Recurrent, Stack, float32, reorder_gates
from rnn_serve.model.convert.errors import ConversionError
from rnn_serve.model.network import RecurrentNet, RNNConfig

RECURRENT_KEY = re.compile(
    r"^(?P<module>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)
CELLS = {1: "rnn", 3: "gru", 4: "lstm"}
# PyTorch's gate blocks, in ONNX's order: GRU r, z, n -> z, r, h; LSTM i, f, g, o -> i, o, f, c.
TO_ONNX_ORDER = {"rnn": [0], "gru": [1, 0, 2], "lstm": [0, 3, 1, 2]}
Tensors = Mapping[str, torch.Tensor]


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ConversionError(
            f"{path.name}: not a PyTorch state_dict that loads safely ({error}); "
            "save one with torch.save(model.state_dict(), path)"
        ) from error
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ConversionError(
            f"{path.name}: holds a {type(loaded).__name__}, not a state_dict of tensors; "
            "save one with torch.save(model.state_dict(), path)"
        )
    return dict(loaded)


def read_state_dict(tensors: Tensors, activation: str = "tanh") -> Stack:
    recurrent, rest = _split_keys(tensors)
    module = _one_recurrent_module(recurrent)
    layers = []
    for index in range(len(module)):
        layers.append(_layer(module, index, activation))
    head = _head(rest, tensors)
    return Stack(tuple(layers), head)


def _split_keys(
    tensors: Tensors,
) -> tuple[dict[str, dict[int, dict[str, torch.Tensor]]], list[str]]:
    recurrent: dict[str, dict[int, dict[str, torch.Tensor]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    rest = []
    for key, value in tensors.items():
        match = RECURRENT_KEY.match(key)
        if match is None:
            rest.append(key)
            continue
        if match["reverse"]:
            raise ConversionError(
                f"{key}: a bidirectional layer reads each sequence backwards too, which a "
                "served stream of steps cannot do; only unidirectional layers convert"
            )
        if match["kind"] == "weight_hr":
            raise ConversionError(
                f"{key}: LSTM projections (proj_size) are not supported; "
                "use an nn.Linear head instead"
            )
        recurrent[match["module"]][int(match["layer"])][match["kind"]] = value
    return recurrent, rest


def _one_recurrent_module(
    recurrent: dict[str, dict[int, dict[str, torch.Tensor]]],
) -> dict[int, dict[str, torch.Tensor]]:
    if not recurrent:
        raise ConversionError(
            "the state_dict has no nn.RNN, nn.GRU or nn.LSTM weights (weight_ih_l0 ...)"
        )
    if len(recurrent) > 1:
        names = ", ".join(repr(m.rstrip(".")) for m in recurrent)
        raise ConversionError(
            f"the state_dict holds several recurrent modules ({names}); "
            "only one (with num_layers for depth) converts"
        )
    module = next(iter(recurrent.values()))
    if sorted(module) != list(range(len(module))):
        raise ConversionError(f"recurrent layers {sorted(module)} are not numbered 0..n-1")
    return module


def _layer(module: dict[int, dict[str, torch.Tensor]], index: int, activation: str) -> Recurrent:
    tensors = {kind: value.detach().numpy() for kind, value in module[index].items()}
    if "weight_ih" not in tensors or "weight_hh" not in tensors:
        raise ConversionError(f"layer {index}: weight_ih_l{index} or weight_hh_l{index} is missing")
    w, r = tensors["weight_ih"], tensors["weight_hh"]
    hidden = r.shape[1]
    gates = w.shape[0] // hidden if hidden else 0
    if gates not in CELLS or w.shape[0] != gates * hidden or r.shape[0] != w.shape[0]:
        raise ConversionError(
            f"layer {index}: weight_ih {tuple(w.shape)} and weight_hh {tuple(r.shape)} "
            "fit no RNN (1 gate), GRU (3) or LSTM (4)"
        )
    cell = CELLS[gates]
    zeros = np.zeros(w.shape[0], np.float32)
    order = TO_ONNX_ORDER[cell]
    return Recurrent(
        cell,  # type: ignore[arg-type]
        reorder_gates(w, order, hidden),
        reorder_gates(r, order, hidden),
        reorder_gates(tensors.get("bias_ih", zeros), order, hidden),
        reorder_gates(tensors.get("bias_hh", zeros), order, hidden),
        activation=activation,  # type: ignore[arg-type]
        reset_after=True,
    )


def _head(rest: list[str], tensors: Tensors) -> tuple[Dense, ...]:
    modules = sorted({key.rsplit(".", 1)[0] if "." in key else "" for key in rest})
    if not rest:
        return ()
    weight = [k for k in rest if k.endswith("weight")]
    unknown = [k for k in rest if not k.endswith(("weight", "bias"))]
    if unknown or len(modules) > 1 or len(weight) != 1 or tensors[weight[0]].dim() != 2:
        raise ConversionError(
            f"tensors {', '.join(rest)} are not one nn.Linear head; only one recurrent module "
            "and at most one nn.Linear convert"
        )
    w = tensors[weight[0]].detach().numpy()
    bias_key = weight[0][: -len("weight")] + "bias"
    b = tensors[bias_key].detach().numpy() if bias_key in tensors else np.zeros(w.shape[0])
    return (Dense(float32(w), float32(b)),)


def reference_module(tensors: Tensors, stack: Stack) -> RecurrentNet:
    """A PyTorch module loaded with the original tensors, to check the converted graph
    against: gate orders and layouts are then PyTorch's own."""
    first = stack.layers[0]
    config = RNNConfig(
        features=stack.features,
        hidden_size=first.hidden_size,
        output_size=stack.output_width if stack.head else None,
        cell=first.cell,
        layers=len(stack.layers),
        nonlinearity=first.activation,
    )
    renamed = {}
    for key, value in tensors.items():
        match = RECURRENT_KEY.match(key)
        if match:
            renamed[f"cell.{match['kind']}_l{match['layer']}"] = value
        else:
            renamed["head." + key.rsplit(".", 1)[-1]] = value
    net = RecurrentNet(config)
    with torch.no_grad():  # a module without biases has none to load: they are zeros
        for name, parameter in net.named_parameters():
            parameter.copy_(renamed.get(name, torch.zeros_like(parameter)))
    return net.eval()
