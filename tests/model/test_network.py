"""The shipped ONNX graphs, PyTorch and the NumPy reference compute the same thing."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from rnn_serve.contract.manifest import Manifest, sha256_of
from rnn_serve.graphs.native import read_native
from rnn_serve.graphs.stack import Stack
from rnn_serve.model.network import RecurrentNet, RNNConfig
from rnn_serve.model.reference import run_stack
from rnn_serve.service.runtime.predictor import Predictor
from tests.support.models import ARTIFACTS, SEED_BATCH, SHIPPED

TOLERANCE = 1e-5


def load(name: str, graph: str = "both") -> tuple[Predictor, RecurrentNet, Stack]:
    """The shipped model as served (``both`` graphs, chosen by batch size), or one graph; the
    stack read back from its native graph, and a PyTorch module with the same weights."""
    manifest = Manifest.read(ARTIFACTS / f"{name}.json")
    batched = (ARTIFACTS / manifest.batched.onnx_file, manifest.batched.min_batch)
    path = batched[0] if graph == "scan" else ARTIFACTS / f"{name}.onnx"
    predictor = Predictor.load(
        path, ["CPUExecutionProvider"], batched=batched if graph == "both" else None
    )
    stack = read_native(onnx.load(ARTIFACTS / f"{name}.onnx"))
    layer = stack.layers[0]
    output_size = stack.output_width if stack.head else None
    net = RecurrentNet(RNNConfig(stack.features, layer.hidden_size, output_size))
    with torch.no_grad():  # the seed's names: i_w, i_b, h_w, h_b, o_w, o_b
        net.cell.weight_ih_l0.copy_(torch.tensor(layer.w))
        net.cell.bias_ih_l0.copy_(torch.tensor(layer.wb))
        net.cell.weight_hh_l0.copy_(torch.tensor(layer.r))
        net.cell.bias_hh_l0.copy_(torch.tensor(layer.rb))
        if net.head is not None:
            net.head.weight.copy_(torch.tensor(stack.head[0].w))
            net.head.bias.copy_(torch.tensor(stack.head[0].b))
    return predictor, net.eval(), stack


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("graph", ["rnn", "scan"])
@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("steps", [1, 5, 1000])
@pytest.mark.parametrize("zero_state", [True, False])
def test_reference_pytorch_and_onnx_agree(name, graph, batch, steps, zero_state, rng):
    predictor, net, stack = load(name, graph)
    sig = predictor.signature
    inputs = rng.normal(size=(batch, steps, sig.features)).astype(np.float32)
    state = np.zeros((batch, sig.state_size), np.float32)
    if not zero_state:
        state = rng.uniform(-1, 1, size=state.shape).astype(np.float32)

    expected_out, expected_state = run_stack(stack, inputs, state)
    onnx_out, onnx_state = predictor.run(inputs, state)
    with torch.no_grad():
        torch_out, torch_state = net(torch.from_numpy(inputs), torch.from_numpy(state))

    assert onnx_out.shape == (batch, steps, sig.output_width)
    assert onnx_state.shape == (batch, sig.state_size)
    for out, last in [(onnx_out, onnx_state), (torch_out.numpy(), torch_state.numpy())]:
        np.testing.assert_allclose(out, expected_out, atol=TOLERANCE)
        np.testing.assert_allclose(last, expected_state, atol=TOLERANCE)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("graph", ["rnn", "scan"])
@pytest.mark.parametrize("split_at", [1, 17, 39])
def test_chunked_run_equals_one_run(name, graph, split_at, rng):
    predictor, _, _ = load(name, graph)
    inputs = rng.normal(size=(3, 40, predictor.signature.features)).astype(np.float32)
    whole_out, whole_state = predictor.run(inputs)
    head_out, head_state = predictor.run(inputs[:, :split_at])
    tail_out, tail_state = predictor.run(inputs[:, split_at:], head_state)
    np.testing.assert_allclose(np.concatenate([head_out, tail_out], 1), whole_out, atol=TOLERANCE)
    np.testing.assert_allclose(tail_state, whole_state, atol=TOLERANCE)


def test_seed_worked_example_shapes():
    predictor, _, _ = load("seed-demo")
    outputs, state = predictor.run(np.array(SEED_BATCH, dtype=np.float32))
    assert outputs.shape == (6, 5, 7)
    assert state.shape == (6, 7)
    # Without a projection the outputs are the hidden states: the last one is the state.
    np.testing.assert_array_equal(outputs[:, -1], state)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_batch_size_runs_on_the_graph_chosen_for_it(name):
    predictor, _, _ = load(name)
    threshold = predictor.min_batch
    assert predictor.session_for(threshold - 1) is predictor.session
    assert predictor.session_for(threshold) is predictor.batched_session
    assert {n.op_type for n in onnx.load(ARTIFACTS / f"{name}.onnx").graph.node} >= {"RNN"}
    assert "Scan" in {n.op_type for n in onnx.load(ARTIFACTS / f"{name}.scan.onnx").graph.node}


@pytest.mark.parametrize(
    "file", ["co2.onnx", "co2.scan.onnx", "seed-demo.onnx", "seed-demo.scan.onnx"]
)
def test_graphs_load_on_older_onnx_runtimes(file):
    """IR 8 with opset 17 loads on every onnxruntime since 1.13; the newest IR would not
    (onnxruntime-gpu 1.31 refused IR 14)."""
    graph = onnx.load(ARTIFACTS / file)
    assert graph.ir_version == 8
    assert [opset.version for opset in graph.opset_import if opset.domain == ""] == [17]


@pytest.mark.parametrize("name", SHIPPED)
def test_manifest_matches_its_onnx_files(name):
    manifest = Manifest.read(ARTIFACTS / f"{name}.json")
    predictor, _, _ = load(name)
    assert manifest.sha256 == sha256_of(ARTIFACTS / manifest.onnx_file)
    assert manifest.batched.sha256 == sha256_of(ARTIFACTS / manifest.batched.onnx_file)
    assert manifest.features == predictor.signature.features
    assert manifest.state_size == predictor.signature.state_size
    assert (manifest.output_size or manifest.state_size) == predictor.signature.output_width
