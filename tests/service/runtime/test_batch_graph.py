"""A model that comes without a batch graph gets one at load, with the same answers."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest

from rnn_serve.graphs.native import native_graph
from rnn_serve.model.reference import random_stack
from rnn_serve.service.runtime.batch_graph import build_at_load
from rnn_serve.service.runtime.cost import CROSSOVER_ROWS, LONG_CROSSOVER_ROWS
from rnn_serve.service.runtime.predictor import Predictor
from tests.support.models import write_random_model

CPU = ["CPUExecutionProvider"]


@pytest.mark.parametrize("layers", [[("rnn", 8)], [("gru", 6), ("lstm", 4)]])
def test_the_graph_built_at_load_answers_as_the_file_does(tmp_path, layers, rng):
    path = tmp_path / "mine.onnx"
    write_random_model(path, 2, layers, [1])
    built = build_at_load(path)
    assert built is not None and built.built_at_load
    predictor = Predictor.load(path, CPU, batched=(built.graph, built.min_batch))
    inputs = rng.normal(size=(5, 12, 2)).astype(np.float32)
    state = rng.uniform(-1, 1, size=(5, predictor.signature.state_size)).astype(np.float32)
    on_file = predictor.run_on(predictor.session, inputs, state)
    on_loop = predictor.run_on(predictor.batched_session, inputs, state)
    for got, want in zip(on_loop, on_file, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    predictor.warm_up()  # measures where the loop graph takes over, if anywhere
    assert predictor.min_batch in (None, *CROSSOVER_ROWS)
    assert predictor.min_batch_long in (None, *LONG_CROSSOVER_ROWS)


def test_a_graph_without_recurrent_operators_is_served_as_it_is(tmp_path, caplog, rng):
    stack = random_stack(rng, 1, [("rnn", 3)])
    model = native_graph(stack)
    rnn = next(n for n in model.graph.node if n.op_type == "RNN")
    rnn.op_type = "RNNCustom"  # not an operator a loop can replace (and not loadable either)
    path = tmp_path / "odd.onnx"
    onnx.save(model, path)
    with caplog.at_level(logging.WARNING):
        assert build_at_load(path) is None
    assert "odd.onnx: no batch graph" in caplog.text
    assert "no RNN, GRU or LSTM operator" in caplog.text
