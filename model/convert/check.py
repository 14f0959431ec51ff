"""A conversion's self-check: the graphs it wrote must answer as the source framework does.

Both graphs run on a probe (a few sequences of random inputs, from zeros and from a random
state) and are compared with the source's own answer, so that a wrong gate order or a missed
bias is a refusal at conversion time, not a wrong forecast in production.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort

from rnn_serve.contract.manifest import TensorNames
from rnn_serve.model.convert.errors import ConversionError

Run = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
# A reference may know only the outputs (Keras takes no state), or only some of them (the
# last step), or not answer from a given state at all: None where it has no answer.
Reference = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]
TOLERANCE = 1e-4  # relative to the answer's scale; float32 rounding is about 1e-6
PROBE_BATCH, PROBE_STEPS = 3, 7


def probe(features: int, state_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(PROBE_BATCH, PROBE_STEPS, features)).astype(np.float32)
    state = rng.uniform(-0.5, 0.5, size=(PROBE_BATCH, state_size)).astype(np.float32)
    return [(inputs, np.zeros_like(state)), (inputs, state)]


def session(model: onnx.ModelProto, io: TensorNames, has_initial_state: bool = True) -> Run:
    runner = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feeds = {io.inputs: inputs}
        if has_initial_state:
            feeds[io.initial_state] = state
        outputs, final = runner.run([io.outputs, io.state], feeds)
        return outputs, final

    return run


def check_against(
    graph: onnx.ModelProto,
    io: TensorNames,
    features: int,
    state_size: int,
    reference: Reference,
    has_initial_state: bool = True,
) -> None:
    run = session(graph, io, has_initial_state)
    for inputs, state in probe(features, state_size):
        if not has_initial_state and state.any():
            continue
        expected_outputs, expected_state = reference(inputs, state)
        outputs, final = run(inputs, state)
        if expected_outputs is not None:
            _compare(graph, "outputs", outputs[:, -expected_outputs.shape[1] :], expected_outputs)
        if expected_state is not None:
            _compare(graph, "state", final, expected_state)


def _compare(graph: onnx.ModelProto, what: str, actual: np.ndarray, expected: np.ndarray) -> None:
    if actual.shape != expected.shape:
        raise ConversionError(
            f"the converted {graph.graph.name} graph gives {what} of shape {actual.shape}, "
            f"the source {expected.shape}"
        )
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    if error > TOLERANCE * scale:
        raise ConversionError(
            f"the converted {graph.graph.name} graph's {what} differ from the source model's by "
            f"{error:.2e} on a probe; the conversion would serve wrong answers (please report)"
        )
