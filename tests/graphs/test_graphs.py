"""Both graphs of every cell, depth and head answer as the NumPy reference does."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper

from rnn_serve.contract.layers import LayerSpec, state_layout
from rnn_serve.graphs.loop import LoopError, loop_graph
from rnn_serve.graphs.native import native_graph, read_native
from rnn_serve.graphs.stack import Dense, Stack, StackError
from rnn_serve.model.reference import random_stack, run_stack
from tests.support.models import export_with_torch

TOLERANCE = 1e-5
CELLS = {
    "rnn-tanh": ("rnn", {}),
    "rnn-relu": ("rnn", {"activation": "relu"}),
    "gru-reset-after": ("gru", {"reset_after": True}),
    "gru-reset-before": ("gru", {"reset_after": False}),
    "lstm": ("lstm", {}),
}


def run(model: onnx.ModelProto, inputs: np.ndarray, state: np.ndarray, names=None):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = names or ("inputs", "initial_state", "outputs", "state")
    return session.run([names[2], names[3]], {names[0]: inputs, names[1]: state})


def graphs(stack: Stack) -> dict[str, onnx.ModelProto]:
    native = native_graph(stack)
    return {"native": native, "loop": loop_graph(native)}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("head", [[], [2], [4, 3]])
@pytest.mark.parametrize("shape", [(1, 1), (5, 30)])
def test_native_and_loop_graphs_equal_the_reference(cell, depth, head, shape, rng):
    kind, variant = CELLS[cell]
    stack = random_stack(rng, 3, [(kind, 6), (kind, 4)][:depth], head, **variant)
    inputs = rng.normal(size=(*shape, 3)).astype(np.float32)
    state = rng.uniform(-1, 1, size=(shape[0], stack.state_size)).astype(np.float32)
    expected_out, expected_state = run_stack(stack, inputs, state)
    for model in graphs(stack).values():
        outputs, final = run(model, inputs, state)
        np.testing.assert_allclose(outputs, expected_out, atol=TOLERANCE)
        np.testing.assert_allclose(final, expected_state, atol=TOLERANCE)


def test_a_mixed_stack_with_an_activated_head(rng):
    stack = random_stack(rng, 2, [("gru", 5), ("lstm", 4), ("rnn", 3)], [3])
    stack = Stack(stack.layers, (Dense(stack.head[0].w, stack.head[0].b, "sigmoid"),))
    inputs = rng.normal(size=(4, 9, 2)).astype(np.float32)
    state = rng.uniform(-1, 1, size=(4, stack.state_size)).astype(np.float32)
    expected = run_stack(stack, inputs, state)
    for model in graphs(stack).values():
        for got, want in zip(run(model, inputs, state), expected, strict=True):
            np.testing.assert_allclose(got, want, atol=TOLERANCE)


@pytest.mark.parametrize("graph", ["native", "loop"])
def test_chunks_carried_through_the_state_equal_one_run(graph, rng):
    stack = random_stack(rng, 2, [("lstm", 5), ("gru", 4)], [2])
    model = graphs(stack)[graph]
    inputs = rng.normal(size=(3, 20, 2)).astype(np.float32)
    zeros = np.zeros((3, stack.state_size), np.float32)
    whole_out, whole_state = run(model, inputs, zeros)
    head_out, head_state = run(model, inputs[:, :7], zeros)
    tail_out, tail_state = run(model, inputs[:, 7:], head_state)
    np.testing.assert_allclose(np.concatenate([head_out, tail_out], 1), whole_out, atol=1e-6)
    np.testing.assert_allclose(tail_state, whole_state, atol=1e-6)


def test_the_state_is_each_layers_state_in_order_lstm_h_then_c(rng):
    stack = random_stack(rng, 2, [("lstm", 3), ("gru", 2)])
    layout = state_layout(stack.specs())
    assert [(p.layer, p.part, p.start, p.stop) for p in layout] == [
        (0, "h", 0, 3),
        (0, "c", 3, 6),
        (1, "h", 6, 8),
    ]
    inputs = rng.normal(size=(2, 4, 2)).astype(np.float32)
    outputs, state = run(native_graph(stack), inputs, np.zeros((2, 8), np.float32))
    np.testing.assert_allclose(state[:, 6:8], outputs[:, -1], atol=1e-6)  # last layer's h


def test_read_native_gives_back_the_stack(rng):
    stack = random_stack(rng, 3, [("gru", 4), ("lstm", 2)], [5, 1], reset_after=False)
    again = read_native(native_graph(stack))
    assert again.specs() == stack.specs()
    inputs = rng.normal(size=(2, 3, 3)).astype(np.float32)
    state = np.zeros((2, stack.state_size), np.float32)
    np.testing.assert_allclose(
        run_stack(again, inputs, state)[0], run_stack(stack, inputs, state)[0], atol=1e-7
    )


def test_the_loop_graph_of_a_torch_export_equals_the_original(tmp_path, rng):
    """Graphs from elsewhere keep everything but their recurrent operators: here PyTorch's
    own export of a 2-layer GRU with a head, its h0 shaped (layers, batch, hidden)."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(2, 6, num_layers=2, batch_first=True)
            self.fc = torch.nn.Linear(6, 1)

        def forward(self, x, h0):
            y, h = self.gru(x, h0)
            return self.fc(y), h

    torch.manual_seed(0)
    path = tmp_path / "gru.onnx"
    export_with_torch(
        Net().eval(), (torch.zeros(2, 3, 2), torch.zeros(2, 2, 6)), path, ("x", "h0", "y", "hn"), 1
    )
    original = onnx.load(str(path))
    looped = loop_graph(original)
    assert "GRU" not in {n.op_type for n in looped.graph.node}
    names = ("x", "h0", "y", "hn")
    inputs = rng.normal(size=(4, 11, 2)).astype(np.float32)
    h0 = rng.uniform(-1, 1, size=(2, 4, 6)).astype(np.float32)
    for got, want in zip(
        run(looped, inputs, h0, names), run(original, inputs, h0, names), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=TOLERANCE)


def _graph_with(node: onnx.NodeProto, stack: Stack) -> onnx.ModelProto:
    model = native_graph(stack)
    nodes = [node if n.op_type == "RNN" else n for n in model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def test_what_a_loop_cannot_replace_is_named(rng):
    stack = random_stack(rng, 2, [("rnn", 3)])
    rnn = next(n for n in native_graph(stack).graph.node if n.op_type == "RNN")
    backwards = helper.make_node(
        "RNN", list(rnn.input), list(rnn.output), name="l0", hidden_size=3, direction="reverse"
    )
    with pytest.raises(LoopError, match="RNN node 'l0': direction"):
        loop_graph(_graph_with(backwards, stack))
    clipped = helper.make_node(
        "RNN", list(rnn.input), list(rnn.output), name="l0", hidden_size=3, clip=1.0
    )
    with pytest.raises(LoopError, match="clip"):
        loop_graph(_graph_with(clipped, stack))
    plain = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["a"], ["b"])],
            "g",
            [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(LoopError, match="no RNN, GRU or LSTM"):
        loop_graph(plain)


def test_weights_that_do_not_chain_are_refused_naming_the_layer(rng):
    stack = random_stack(rng, 2, [("gru", 4), ("lstm", 3)])
    wrong = stack.layers[1].__class__(
        "lstm", stack.layers[1].w[:, :3], stack.layers[1].r, stack.layers[1].wb, stack.layers[1].rb
    )
    with pytest.raises(StackError, match=r"layer 1 \(lstm\): weight w has shape \(12, 3\)"):
        Stack((stack.layers[0], wrong))


def test_layer_spec_state_sizes():
    assert LayerSpec(cell="lstm", hidden_size=8).state_size == 16
    assert LayerSpec(cell="gru", hidden_size=8).state_size == 8
