"""What cannot be served is refused: a message naming the layer or tensor and why, exit code 2,
and nothing written."""

from __future__ import annotations

import re

import pytest
import torch

from rnn_serve.cli import main as rnn_serve
from tests.model.convert.sources import FEATURES, HIDDEN, TorchForecaster
from tests.support.models import export_with_torch


def refused(capsys, tmp_path, source, *extra: str) -> str:
    out = tmp_path / "out"
    code = rnn_serve(["convert", str(source), "--name", "x", "--out", str(out), *extra])
    assert code == 2
    assert not out.exists() or not any(out.iterdir()), "a refusal must write nothing"
    return capsys.readouterr().err


def keras_file(tmp_path, *layers):
    import keras

    model = keras.Sequential([keras.Input((None, FEATURES)), *layers])
    path = tmp_path / "model.keras"
    model.save(path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda k: [k.layers.Bidirectional(k.layers.GRU(4))],
            r"'bidirectional' \(Bidirectional\): a bidirectional layer reads each sequence",
        ),
        (lambda k: [k.layers.Masking(0.0), k.layers.LSTM(4)], r"\(Masking\): masking skips steps"),
        (
            lambda k: [k.layers.GRU(4, recurrent_activation="hard_sigmoid")],
            r"\(GRU\): recurrent_activation 'hard_sigmoid'",
        ),
        (lambda k: [k.layers.LSTM(4, go_backwards=True)], r"\(LSTM\): go_backwards"),
        (
            lambda k: [k.layers.Conv1D(4, 2)],
            r"\(Conv1D\): is not supported: SimpleRNN, GRU and LSTM",
        ),
        (
            lambda k: [k.layers.GRU(4), k.layers.Dense(2, activation="softmax")],
            r"\(Dense\): activation 'softmax'",
        ),
    ],
    ids=["bidirectional", "masking", "hard-sigmoid", "go-backwards", "conv", "softmax-head"],
)
def test_keras_layers_that_cannot_be_served(capsys, tmp_path, make, message):
    import keras

    assert re.search(message, refused(capsys, tmp_path, keras_file(tmp_path, *make(keras))))


def test_keras_attention_is_refused(capsys, tmp_path):
    import keras

    inputs = keras.Input((None, FEATURES))
    states = keras.layers.LSTM(4, return_sequences=True)(inputs)
    attended = keras.layers.Attention()([states, states])
    path = tmp_path / "attention.keras"
    keras.Model(inputs, keras.layers.Dense(1)(attended)).save(path)
    assert "(Attention): is not supported" in refused(capsys, tmp_path, path)


class Projected(torch.nn.Module):
    def __init__(self, **options) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True, **options)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (
            Projected(proj_size=2),
            "lstm.weight_hr_l0: LSTM projections (proj_size) are not supported",
        ),
        (Projected(bidirectional=True), "lstm.weight_ih_l0_reverse: a bidirectional layer"),
        (
            torch.nn.ModuleDict({"a": torch.nn.GRU(3, 4), "b": torch.nn.GRU(4, 4)}),
            "several recurrent modules ('a', 'b')",
        ),
        (
            torch.nn.ModuleDict({"gru": torch.nn.GRU(3, 4), "head": torch.nn.Linear(7, 1)}),
            "dense layer 0: weights (1, 7) and bias (1,) do not fit an input of width 4",
        ),
        (
            torch.nn.ModuleDict({"gru": torch.nn.GRU(3, 4), "norm": torch.nn.BatchNorm1d(4)}),
            "are not one nn.Linear head",
        ),
        (torch.nn.Linear(3, 4), "has no nn.RNN, nn.GRU or nn.LSTM weights"),
    ],
    ids=[
        "lstm-projection",
        "bidirectional",
        "two-recurrent",
        "head-does-not-fit",
        "batchnorm",
        "no-recurrent",
    ],
)
def test_state_dicts_that_cannot_be_served(capsys, tmp_path, module, message):
    path = tmp_path / "weights.pt"
    torch.save(module.state_dict(), path)
    assert message in refused(capsys, tmp_path, path)


def test_a_pickled_module_is_refused_with_the_fix(capsys, tmp_path):
    path = tmp_path / "module.pt"
    torch.save(TorchForecaster("gru", 1, True), path)
    assert "save one with torch.save(model.state_dict(), path)" in refused(capsys, tmp_path, path)


def test_a_file_of_no_known_kind_is_refused(capsys, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a model")
    assert "not a Keras model (.keras, .h5), a PyTorch state_dict or an ONNX file" in refused(
        capsys, tmp_path, path
    )


def test_window_needs_outputs_that_feed_back(capsys, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(TorchForecaster("lstm", 1, head=True).state_dict(), path)  # 3 features, 2 outputs
    message = refused(capsys, tmp_path, path, "--window", "24")
    assert (
        "--window: the model's outputs (width 2) cannot feed back as its inputs (3 features)"
        in message
    )


def test_io_mappings_that_name_no_tensor_of_the_graph(capsys, tmp_path):
    """PyTorch's own export keeps h0 as (layers, batch, hidden): the flat form of --io maps
    it as one state (tests/model/convert/test_pytorch_onnx.py serves such files); a state
    named alone, or a role the contract has not, is refused."""
    module = TorchForecaster("gru", 1, head=True).eval()
    path = tmp_path / "gru.onnx"
    example = (torch.zeros(2, 4, FEATURES), torch.zeros(1, 2, HIDDEN))
    export_with_torch(module, example, path, ("x", "h0", "y", "hn"), state_batch=1)
    io = ["--io", "inputs=x,initial_state=h0,outputs=y,state=hn"]
    out = str(tmp_path / "served")
    assert rnn_serve(["convert", str(path), "--name", "gru", "--out", out, *io]) == 0
    assert "--io state=hidden: the graph's states are (layers, batch, hidden) tensors" in refused(
        capsys, tmp_path, path, "--io", "inputs=x,outputs=y,state=hidden"
    )
    assert "--io: ['weights'] are not inputs, outputs or state" in refused(
        capsys, tmp_path, path, "--io", "weights=w"
    )
