"""ONNX files as ``torch.onnx.export`` writes them, converted and served: nn.RNN, nn.GRU and
nn.LSTM, one and two layers, batch first or time first, with and without a Linear head, their
state as (layers, batch, hidden) tensors (an LSTM's h and c apart). Each answers over /v1 and
/v2 as PyTorch does, streams a sequence in chunks as one call, and keeps its state in the
documented layout (each layer's h, then its c); renamed tensors convert through --io, and what
cannot be served is refused, naming why."""

from __future__ import annotations

import uuid
import warnings

import numpy as np
import pytest
import torch

from rnn_serve.cli import main as rnn_serve
from tests.model.convert.test_served_parity import v1, v2
from tests.support.servers import assert_streamed_as_whole, make_client

FEATURES, HIDDEN, WIDTH = 3, 6, 2
CELLS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
CASES = [
    (cell, layers, batch_first, head)
    for cell in CELLS
    for layers in (1, 2)
    for batch_first in (True, False)
    for head in (False, True)
]


class Exported(torch.nn.Module):
    """A recurrent stack and an optional Linear head, called as torch.onnx.export calls it:
    (x, h0[, c0]) -> (y, hn[, cn])."""

    def __init__(self, cell: str, layers: int, batch_first: bool, head: bool, **extra) -> None:
        super().__init__()
        self.lstm = cell == "lstm"
        self.rnn = CELLS[cell](FEATURES, HIDDEN, layers, batch_first=batch_first, **extra)
        self.head = torch.nn.Linear(HIDDEN * (2 if extra else 1), WIDTH) if head else None

    def forward(self, x, h0, c0=None):
        if self.lstm:
            y, (hn, cn) = self.rnn(x, (h0, c0))
        else:
            y, hn = self.rnn(x, h0)
        y = self.head(y) if self.head is not None else y
        return (y, hn, cn) if self.lstm else (y, hn)


def export(module: Exported, path, names=("x", "h0", "c0", "y", "hn", "cn")) -> None:
    """torch.onnx.export with dynamic batch and time, as its documentation shows."""
    rnn = module.rnn
    batch_first, layers = rnn.batch_first, rnn.num_layers * (2 if rnn.bidirectional else 1)
    x = torch.zeros((2, 4, FEATURES) if batch_first else (4, 2, FEATURES))
    states = [torch.zeros(layers, 2, HIDDEN)] * (2 if module.lstm else 1)
    count = 1 + len(states)
    sequence_axes = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
    axes = {names[0]: sequence_axes, names[count]: sequence_axes}
    axes |= {name: {1: "batch"} for name in [*names[1:count], *names[count + 1 : 2 * count]]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on batch_first and dropout
        torch.onnx.export(
            module,
            (x, *states),
            str(path),
            input_names=list(names[:count]),
            output_names=list(names[count : 2 * count]),
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def name_of(cell: str, layers: int, batch_first: bool, head: bool) -> str:
    return f"{cell}-{layers}-{'bf' if batch_first else 'tf'}{'-head' if head else ''}"


def torch_answer(module: Exported, inputs: np.ndarray, state: np.ndarray):
    """PyTorch's outputs (batch first) and its final state in the documented flat layout:
    per layer, h then c."""
    rnn = module.rnn
    parts = 2 if module.lstm else 1
    layered = torch.from_numpy(state).reshape(len(state), rnn.num_layers, parts, HIDDEN)
    given = [layered[:, :, k].transpose(0, 1).contiguous() for k in range(parts)]
    x = torch.from_numpy(inputs) if rnn.batch_first else torch.from_numpy(inputs).transpose(0, 1)
    with torch.no_grad():
        y, *finals = module(x, *given)
    y = y if rnn.batch_first else y.transpose(0, 1)
    flat = torch.stack([f.transpose(0, 1) for f in finals], dim=2).reshape(len(state), -1)
    return y.numpy(), flat.numpy()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    sources, models = tmp_path_factory.mktemp("exports"), tmp_path_factory.mktemp("models")
    modules = {}
    for case in CASES:
        torch.manual_seed(len(modules))
        module = Exported(*case).eval()
        name = name_of(*case)
        export(module, sources / f"{name}.onnx")
        argv = ["convert", str(sources / f"{name}.onnx"), "--name", name, "--out", str(models)]
        assert rnn_serve(argv) == 0
        modules[name] = module
    with make_client(model_dir=models) as client:
        yield modules, client


@pytest.mark.parametrize("case", CASES, ids=[name_of(*case) for case in CASES])
def test_served_as_pytorch_answers_over_v1_and_v2(served, case, rng):
    modules, client = served
    name = name_of(*case)
    module = modules[name]
    state_size = module.rnn.num_layers * HIDDEN * (2 if module.lstm else 1)
    inputs = rng.normal(size=(3, 7, FEATURES)).astype(np.float32)
    state = rng.uniform(-0.5, 0.5, (3, state_size)).astype(np.float32)
    for given in (None, state):
        expected = torch_answer(module, inputs, np.zeros_like(state) if given is None else given)
        for protocol in (v1, v2):
            outputs, final = protocol(client, name, inputs, given)
            np.testing.assert_allclose(outputs, expected[0], atol=1e-5)
            np.testing.assert_allclose(final, expected[1], atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[name_of(*case) for case in CASES])
def test_a_sequence_streamed_in_chunks_equals_one_call(served, case, rng):
    _, client = served
    name = name_of(*case)
    inputs = rng.normal(size=(2, 9, FEATURES)).astype(np.float32)
    path = f"/v1/models/{name}/predict"
    whole = client.post(path, json={"inputs": inputs.tolist()}).json()
    sequence, answers = uuid.uuid4().hex, []
    for start, stop in ((0, 4), (4, 5), (5, 9)):
        spec = {"id": sequence, "start": start == 0, "end": stop == 9}
        body = {"inputs": inputs[:, start:stop].tolist(), "sequence": spec}
        answers.append(client.post(path, json=body).json())
    assert_streamed_as_whole(answers, whole, 9)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_state_layout_is_each_layer_s_h_then_its_c(served, cell):
    modules, client = served
    name = name_of(cell, 2, False, True)
    parts = [(p["layer"], p["part"], p["start"], p["stop"]) for p in _layout(client, name)]
    names = [(layer, part) for layer in (0, 1) for part in ("hc" if cell == "lstm" else "h")]
    starts = range(0, len(names) * HIDDEN, HIDDEN)
    assert parts == [
        (*named, start, start + HIDDEN) for named, start in zip(names, starts, strict=True)
    ]
    inputs = np.ones((1, 3, FEATURES), np.float32)
    _, final = v1(client, name, inputs, None)
    x = torch.from_numpy(inputs).transpose(0, 1)
    zeros = [torch.zeros(2, 1, HIDDEN)] * (2 if cell == "lstm" else 1)
    with torch.no_grad():
        _, *finals = modules[name](x, *zeros)
    for layer, part, start, stop in parts:
        expected = finals["hc".index(part)][layer, 0]
        np.testing.assert_allclose(final[0, start:stop], expected, atol=1e-5)


def _layout(client, name: str) -> list[dict]:
    return client.get(f"/v1/models/{name}").json()["state_layout"]


class StateFirst(Exported):
    """The state before the sequence, under names of its own, and the stack's own outputs
    beside the head's: which output is the model's, only the user can say."""

    def forward(self, h0, x, c0):  # type: ignore[override]
        raw, (hn, cn) = self.rnn(x, (h0, c0))
        return self.head(raw), hn, cn, raw


def test_renamed_tensors_that_cannot_be_told_apart_convert_with_io(tmp_path, rng, capsys):
    torch.manual_seed(5)
    module = StateFirst("lstm", 2, True, True).eval()
    h0, c0 = torch.zeros(2, 2, HIDDEN), torch.zeros(2, 2, HIDDEN)
    sequence_axes = {0: "batch", 1: "time"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (h0, torch.zeros(2, 4, FEATURES), c0),
            str(tmp_path / "theirs.onnx"),
            input_names=["h_init", "seq", "c_init"],
            output_names=["pred", "h_last", "c_last", "raw"],
            dynamic_axes={
                **{name: sequence_axes for name in ("seq", "pred", "raw")},
                **{name: {1: "batch"} for name in ("h_init", "c_init", "h_last", "c_last")},
            },
            opset_version=17,
            dynamo=False,
        )
    served = tmp_path / "served"
    argv = ["convert", str(tmp_path / "theirs.onnx"), "--name", "theirs", "--out", str(served)]
    assert rnn_serve(argv) == 2
    assert "sequence output among ['pred', 'raw']: name it with --io" in capsys.readouterr().err
    io = "inputs=seq,state=h_init:h_last+c_init:c_last,outputs=pred"
    assert rnn_serve([*argv, "--io", io]) == 0
    inputs = rng.normal(size=(2, 5, FEATURES)).astype(np.float32)
    state = rng.uniform(-0.5, 0.5, (2, 4 * HIDDEN)).astype(np.float32)
    with make_client(model_dir=served) as client:
        outputs, final = v1(client, "theirs", inputs, state)
    layered = torch.from_numpy(state).reshape(2, 2, 2, HIDDEN)
    h, c = (layered[:, :, k].transpose(0, 1).contiguous() for k in range(2))
    with torch.no_grad():
        y, hn, cn, _ = module(h, torch.from_numpy(inputs), c)
    np.testing.assert_allclose(outputs, y.numpy(), atol=1e-5)
    flat = torch.stack([hn.transpose(0, 1), cn.transpose(0, 1)], dim=2).reshape(2, -1)
    np.testing.assert_allclose(final, flat.numpy(), atol=1e-5)


class Forgetful(Exported):
    """Takes h0 and ignores it: every call starts afresh."""

    def forward(self, x, h0, c0=None):
        return super().forward(x, h0 * 0, c0)


class Narrowed(Exported):
    """An LSTM whose cn comes back narrower than c0."""

    def forward(self, x, h0, c0=None):
        y, hn, cn = super().forward(x, h0, c0)
        return y, hn, cn[:, :, :4]


class Stateless(Exported):
    def forward(self, x):  # type: ignore[override]
        return self.rnn(x)


REFUSALS = {
    "bidirectional": (
        Exported("gru", 1, True, True, bidirectional=True),
        "is bidirectional: its final state holds the backward pass's first step",
    ),
    "not carried": (Forgetful("rnn", 1, True, False), "the graph's state is not carried"),
    "no pair": (Narrowed("lstm", 1, True, False), "the states do not pair up"),
}


@pytest.mark.parametrize("kind", REFUSALS)
def test_what_cannot_be_served_is_refused_naming_why(kind, tmp_path, capsys):
    module, message = REFUSALS[kind]
    export(module.eval(), tmp_path / "model.onnx")
    argv = ["convert", str(tmp_path / "model.onnx"), "--name", "m", "--out", str(tmp_path / "out")]
    assert rnn_serve(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_graph_that_takes_no_state_is_refused(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Stateless("gru", 1, True, False).eval(),
            (torch.zeros(2, 4, FEATURES),),
            str(tmp_path / "model.onnx"),
            input_names=["x", "y"],
            output_names=["y", "hn"],
            dynamic_axes={"x": {0: "batch", 1: "time"}},
            opset_version=17,
            dynamo=False,
        )
    argv = ["convert", str(tmp_path / "model.onnx"), "--name", "m", "--out", str(tmp_path / "out")]
    assert rnn_serve(argv) == 2
    assert "export it with the initial state as an input" in capsys.readouterr().err


def test_the_newer_exporter_s_files_convert_too(tmp_path, rng):
    """torch.onnx.export's default (dynamo=True, through onnxscript) writes the same
    operators with other plumbing around them."""
    torch.manual_seed(7)
    module = Exported("lstm", 2, True, True).eval()
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    states = (torch.zeros(2, 2, HIDDEN), torch.zeros(2, 2, HIDDEN))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(2, 4, FEATURES), *states),
            str(tmp_path / "dynamo.onnx"),
            input_names=["x", "h0", "c0"],
            output_names=["y", "hn", "cn"],
            dynamic_shapes={"x": {0: batch, 1: time}, "h0": {1: batch}, "c0": {1: batch}},
            opset_version=18,
            verbose=False,
        )
    served = tmp_path / "served"
    argv = ["convert", str(tmp_path / "dynamo.onnx"), "--name", "dynamo", "--out", str(served)]
    assert rnn_serve(argv) == 0
    inputs = rng.normal(size=(3, 6, FEATURES)).astype(np.float32)
    state = rng.uniform(-0.5, 0.5, (3, 4 * HIDDEN)).astype(np.float32)
    with make_client(model_dir=served) as client:
        for protocol in (v1, v2):
            outputs, final = protocol(client, "dynamo", inputs, state)
            expected = torch_answer(module, inputs, state)
            np.testing.assert_allclose(outputs, expected[0], atol=1e-5)
            np.testing.assert_allclose(final, expected[1], atol=1e-5)
