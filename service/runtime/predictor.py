"""An ONNX Runtime session for one RNN graph: ``run(inputs, initial_state) -> (outputs, state)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from rnn_serve.contract.manifest import TensorNames
from rnn_serve.contract.names import INITIAL_STATE, INPUTS, OUTPUTS, STATE
from rnn_serve.service.errors import ModelLoadError
from rnn_serve.service.runtime.cost import (
    LONG_CROSSOVER_ROWS,
    LONG_PROBE_STEPS,
    LONG_STEPS,
    PROBE_STEPS,
    CostModel,
    crossover,
)
from rnn_serve.service.runtime.providers import Provider, device_of

Array = NDArray[np.float32]


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "datatype": "FP32", "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    """The graph's contract, read from the graph itself."""

    features: int
    state_size: int
    output_width: int
    has_initial_state: bool
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


Graph = Path | bytes  # a file, or a graph built at load (graphs/loop.py)
CROSSOVER_SEARCH = tuple(1 << k for k in range(15))  # 1 to 16384 rows


class Predictor:
    """One graph, or two of the same weights: the second (``batched``) runs every batch of at
    least ``min_batch`` rows, where it is faster (see graphs/loop.py). ``names`` are the
    graph's own names for the contract's tensors; callers only ever see the contract's.

    On a GPU, ``beside`` is the same model on the CPU: each call goes to the device whose cost
    model (timed by ``warm_up``) expects it to finish sooner. A call on a GPU pays a fixed
    launch and copy cost that a small one never earns back."""

    def __init__(
        self,
        session: ort.InferenceSession,
        path: Path,
        batched: tuple[ort.InferenceSession, int] | None = None,
        names: TensorNames | None = None,
        beside: Predictor | None = None,
    ) -> None:
        self.session = session
        self.names = names or TensorNames()
        self.signature = _read_signature(session, path, self.names)
        self.provider = session.get_providers()[0]
        self.device = device_of(self.provider)
        # ONNX Runtime falls back to the CPU silently: then a CPU session beside is the same
        self.beside = beside if beside is not None and beside.device != self.device else None
        self.batched_session: ort.InferenceSession | None = batched[0] if batched else None
        # The rows from which calls run the batched graph, for calls under LONG_STEPS steps
        # and for longer ones; None: never (measured by warm_up).
        self.min_batch: int | None = batched[1] if batched else None
        self.min_batch_long: int | None = self.min_batch
        self.cost: CostModel | None = None  # measured by warm_up()
        if self.batched_session is not None:
            other = _read_signature(self.batched_session, path, self.names)
            if other != self.signature:
                raise ModelLoadError(f"{path.name}: the batched graph has another signature")

    @classmethod
    def load(
        cls,
        path: Path,
        providers: Sequence[Provider],
        threads: int = 0,
        batched: tuple[Graph, int] | None = None,
        names: TensorNames | None = None,
        beside: Sequence[Provider] | None = None,
    ) -> Predictor:
        """Sessions on ``providers``, and with ``beside`` the same graphs on those too."""
        other = cls.load(path, beside, threads, batched, names) if beside else None
        session = _session(path, providers, threads, path.name)
        if batched is None:
            return cls(session, path, names=names, beside=other)
        graph, min_batch = batched
        name = graph.name if isinstance(graph, Path) else f"{path.name} (batch graph)"
        batched_session = _session(graph, providers, threads, name)
        return cls(session, path, (batched_session, min_batch), names, other)

    def session_for(self, batch: int, steps: int = 1) -> ort.InferenceSession:
        threshold = self.min_batch_long if steps >= LONG_STEPS else self.min_batch
        if self.batched_session is not None and threshold and batch >= threshold:
            return self.batched_session
        return self.session

    def device_for(self, rows: int, steps: int) -> Predictor:
        """This predictor, or the one beside it when it is expected to finish sooner."""
        if self.beside is None or self.cost is None or self.beside.cost is None:
            return self
        if self.beside.cost.seconds(rows, steps) < self.cost.seconds(rows, steps):
            return self.beside
        return self

    def expected_s(self, rows: int, steps: int) -> float | None:
        """What the call is expected to take on the device it would go to (None before
        ``warm_up``)."""
        cost = (self if self.beside is None else self.device_for(rows, steps)).cost
        return None if cost is None else cost.seconds(rows, steps)

    def crossover_rows(self) -> int | None:
        """With a CPU beside, the fewest rows from which calls go to this device (the same at
        any step count: both costs are linear in steps); None when none would."""
        if self.beside is None:
            return None
        for rows in CROSSOVER_SEARCH:
            if self.device_for(rows, PROBE_STEPS) is self:
                return rows
        return None

    def devices(self) -> list[dict[str, Any]]:
        """Each device's provider, the rows from which it runs the batched graph, and its
        timed cost."""
        found = []
        for predictor in filter(None, (self, self.beside)):
            cost = predictor.cost
            found.append(
                {
                    "device": predictor.device,
                    "provider": predictor.provider,
                    "batched_graph_from_rows": predictor.min_batch,
                    "us_per_step": round(cost.seconds_per_step * 1e6, 3) if cost else None,
                    "us_per_row_step": round(cost.seconds_per_row_step * 1e6, 4) if cost else None,
                }
            )
        return found

    def run(self, inputs: Array, initial_state: Array | None = None) -> tuple[Array, Array]:
        """inputs (batch, steps, features), initial_state (batch, hidden) or None for zeros,
        on the device expected to finish sooner."""
        return self.device_for(*inputs.shape[:2]).run_here(inputs, initial_state)

    def run_here(self, inputs: Array, initial_state: Array | None = None) -> tuple[Array, Array]:
        """``run`` on this predictor's own device."""
        return self.run_on(self.session_for(*inputs.shape[:2]), inputs, initial_state)

    def run_on(
        self, session: ort.InferenceSession, inputs: Array, initial_state: Array | None = None
    ) -> tuple[Array, Array]:
        names = self.names
        feeds = {names.inputs: inputs}
        if self.signature.has_initial_state:
            if initial_state is None:
                initial_state = self.zero_state(len(inputs))
            feeds[names.initial_state] = initial_state
        outputs, state = session.run([names.outputs, names.state], feeds)
        return outputs, state

    def warm_up(self) -> None:
        """One inference on each graph, so that readiness means every graph has run; then,
        with a batched graph, the batch sizes from which it is measurably faster here, for
        short calls and long ones (for the Elman cell, a few rows; ONNX Runtime's own GRU and
        LSTM kernels are often faster at every size: then the batched graph is not used);
        then the cost model's runs."""
        if self.beside is not None:
            self.beside.warm_up()
        features = self.signature.features
        probe = np.zeros((1, 2, features), dtype=np.float32)
        sessions = [self.session, self.batched_session]
        for session in filter(None, sessions):
            self.run_on(session, probe)
        if self.batched_session is not None:
            single = partial(self.run_on, self.session)
            batched = partial(self.run_on, self.batched_session)
            self.min_batch = crossover(single, batched, features)
            self.min_batch_long = crossover(
                single, batched, features, LONG_PROBE_STEPS, LONG_CROSSOVER_ROWS
            )
        self.cost = CostModel.measure(self.run_here, features)

    def zero_state(self, batch: int) -> Array:
        return np.zeros((batch, self.signature.state_size), dtype=np.float32)


def _session(
    graph: Graph, providers: Sequence[Provider], threads: int, name: str
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: fallbacks are reported by us
    try:
        source = str(graph) if isinstance(graph, Path) else graph
        return ort.InferenceSession(source, options, providers=list(providers))
    except Exception as error:
        raise ModelLoadError(f"cannot load ONNX model {name}: {error}") from error


def _read_signature(session: ort.InferenceSession, path: Path, names: TensorNames) -> Signature:
    """The graph's tensors under the contract's names (``names`` maps them to the graph's)."""
    contract = {names.inputs: INPUTS, names.initial_state: INITIAL_STATE}
    inputs = {contract.get(n.name, n.name): n for n in session.get_inputs()}
    contract = {names.outputs: OUTPUTS, names.state: STATE}
    outputs = {contract.get(n.name, n.name): n for n in session.get_outputs()}
    missing = [n for n in (INPUTS,) if n not in inputs] + [
        n for n in (OUTPUTS, STATE) if n not in outputs
    ]
    extra = set(inputs) - {INPUTS, INITIAL_STATE}
    if missing or extra:
        raise ModelLoadError(
            f"{path.name} does not follow the RNN contract (inputs 'inputs' [+ 'initial_state'], "
            f"outputs 'outputs' and 'state'; other names need a manifest's io mapping): "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return Signature(
        features=_static_dim(inputs[INPUTS].shape, 2, path, INPUTS),
        state_size=_static_dim(outputs[STATE].shape, 1, path, STATE),
        output_width=_static_dim(outputs[OUTPUTS].shape, 2, path, OUTPUTS),
        has_initial_state=INITIAL_STATE in inputs,
        inputs=tuple(_spec(name, inputs[name]) for name in inputs),
        outputs=tuple(_spec(name, outputs[name]) for name in (OUTPUTS, STATE)),
    )


def _static_dim(shape: list[int | str | None], axis: int, path: Path, tensor: str) -> int:
    if len(shape) <= axis or not isinstance(shape[axis], int):
        raise ModelLoadError(f"{path.name}: tensor '{tensor}' needs a fixed size on axis {axis}")
    return int(shape[axis])  # type: ignore[arg-type]


def _spec(name: str, node: ort.NodeArg) -> TensorSpec:
    # Dynamic axes are reported as -1, as the Open Inference Protocol expects.
    return TensorSpec(name, tuple(d if isinstance(d, int) else -1 for d in node.shape))
