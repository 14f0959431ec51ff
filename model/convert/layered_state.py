"""An ONNX file as PyTorch exports a recurrent model: the state as (layers, batch, hidden)
tensors, an LSTM's two of them (h and c), and the sequence batch first or time first.

``torch.onnx.export(model, (x, h0, c0), ...)`` of an ``nn.LSTM`` gives a graph with inputs
``x, h0, c0`` and outputs ``y, hn, cn``. The served model keeps the contract's one flat state
(batch, state_size) in its documented layout: each layer's h, then its c (contract/layers.py).
So the file is wrapped in an adapter graph:

    inputs (batch, steps, F) -> [Transpose, time first] -> x
    initial_state (batch, S) -> Reshape (batch, L, W) -> Split by part -> Transpose -> h0, c0
    y -> [Transpose] -> outputs;  hn, cn -> Transpose -> Concat -> Reshape -> state (batch, S)

where W is the width of one layer's parts (h's width, plus c's). The names are found where
they can be (one sequence input, state inputs paired with state outputs of their shape, in
order); ``--io inputs=x,state=h0:hn+c0:cn,outputs=y`` names them where they cannot. Before
anything is written, the original graph is run on a probe: whole, and in two chunks with the
state carried between them, which must agree (a state that is not carried, or pairs that do
not match, answer differently). The wrapped graph is then checked against the original.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from rnn_serve.contract.manifest import TensorNames
from rnn_serve.graphs.loop import recurrent_nodes
from rnn_serve.model.convert.check import Reference
from rnn_serve.model.convert.errors import ConversionError

PROBE_BATCH, PROBE_STEPS, PROBE_CUT = 2, 5, 3  # batch and steps differ: their order shows


@dataclass(frozen=True)
class Mapping:
    """The graph's own names, where ``--io`` gives them: the sequence in and out, and each
    state as (its input, its output)."""

    inputs: str | None = None
    outputs: str | None = None
    states: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LayeredState:
    """What the adapter needs to know of the original graph."""

    model: onnx.ModelProto
    inputs: str
    outputs: str
    states: tuple[tuple[str, str], ...]
    widths: tuple[int, ...]  # each state tensor's hidden size, in state order
    layers: int
    batch_first: bool
    features: int
    output_width: int

    @property
    def state_size(self) -> int:
        return self.layers * sum(self.widths)

    def flat(self, parts: list[np.ndarray]) -> np.ndarray:
        """(layers, batch, width) parts as the contract's (batch, state_size)."""
        joined = np.concatenate([part.transpose(1, 0, 2) for part in parts], axis=2)
        return joined.reshape(joined.shape[0], -1)

    def parts(self, state: np.ndarray) -> list[np.ndarray]:
        """The contract's (batch, state_size) as the graph's (layers, batch, width) parts."""
        split = np.cumsum(self.widths)[:-1]
        layered = state.reshape(len(state), self.layers, sum(self.widths))
        return [np.ascontiguousarray(p.transpose(1, 0, 2)) for p in np.split(layered, split, 2)]


def parse_mapping(text: str | None) -> Mapping:
    """``inputs=x,state=h0:hn+c0:cn,outputs=y``; or the flat form, its one state
    ``initial_state=h0,state=hn``."""
    found: dict[str, str] = {}
    for item in (text or "").split(","):
        key, _, value = item.partition("=")
        if key.strip():
            found[key.strip()] = value.strip()
    unknown = set(found) - {"inputs", "outputs", "state", "initial_state"}
    if unknown:
        raise ConversionError(
            f"--io: {sorted(unknown)} are not inputs, outputs or state (state=IN:OUT+IN:OUT)"
        )
    states = []
    if "initial_state" in found and "state" in found:
        states.append((found["initial_state"], found["state"]))
    elif "state" in found:
        for pair in found["state"].split("+"):
            given, _, final = pair.partition(":")
            if not given or not final:
                raise ConversionError(
                    f"--io state={found['state']}: the graph's states are (layers, batch, "
                    "hidden) tensors, each named as INPUT:OUTPUT (state=h0:hn+c0:cn)"
                )
            states.append((given, final))
    return Mapping(found.get("inputs"), found.get("outputs"), tuple(states))


def applies(model: onnx.ModelProto, text: str | None) -> bool:
    """Whether the graph carries its state as (layers, batch, hidden) tensors: ``--io``
    pairs its states (``state=IN:OUT``), it takes two or more inputs of rank 3 (the
    sequence, and states), or an output of rank 3 has a fixed first axis (layers)."""
    paired = any(":" in item for item in (text or "").split(",") if item.startswith("state="))
    sequences = [v for v in _inputs(model) if _rank(v) == 3]
    layered = [v for v in model.graph.output if _rank(v) == 3 and _dims(v)[0]]
    return paired or len(sequences) >= 2 or bool(layered)


def read(model: onnx.ModelProto, mapping: Mapping) -> LayeredState:
    """The graph's sequence, states and layout, as mapped or as found; a ConversionError
    saying why where it cannot be served."""
    _refuse_bidirectional(model)
    inputs = {v.name: v for v in _inputs(model)}
    outputs = {v.name: v for v in model.graph.output}
    for name in [mapping.inputs, *(given for given, _ in mapping.states)]:
        if name is not None and name not in inputs:
            raise ConversionError(
                f"--io: {name!r} is not among the graph's inputs {sorted(inputs)}"
            )
    for name in [mapping.outputs, *(final for _, final in mapping.states)]:
        if name is not None and name not in outputs:
            raise ConversionError(
                f"--io: {name!r} is not among the graph's outputs {sorted(outputs)}"
            )
    rank3 = [name for name, value in inputs.items() if _rank(value) == 3]
    # a state's first axis is its fixed number of layers; the sequence's is batch or time
    unfixed = [name for name in rank3 if not _dims(inputs[name])[0]] or rank3
    sequence_in = mapping.inputs or _first(unfixed, "no input of rank 3 (batch, steps, features)")
    given = [g for g, _ in mapping.states] or [name for name in rank3 if name != sequence_in]
    unfed = set(inputs) - {sequence_in, *given}
    if unfed:
        raise ConversionError(
            f"the graph's inputs {sorted(unfed)} are neither the sequence nor a state; the "
            "service feeds only those (map them with --io inputs=X,state=IN:OUT+IN:OUT)"
        )
    if not given:
        raise ConversionError(
            "the graph takes no state: export it with the initial state as an input (h0, and "
            "c0 for an LSTM), so that a sequence can go on from where it stopped"
        )
    for name in given:
        _check_rank(inputs[name], 3, "state")
    candidates = {name: v for name, v in outputs.items() if _rank(v) == 3}
    widths, layers = _state_dims(inputs, given)
    batch_first, features, output_width, pairs = _probe(
        model, sequence_in, given, widths, layers, mapping, candidates
    )
    return LayeredState(
        model,
        sequence_in,
        pairs[0],
        tuple(zip(given, pairs[1:], strict=True)),
        widths,
        layers,
        batch_first,
        features,
        output_width,
    )


def wrap(source: LayeredState) -> tuple[onnx.ModelProto, TensorNames]:
    """The adapter graph around the original, and the names of the contract's tensors in it."""
    model = onnx.ModelProto()
    model.CopyFrom(source.model)
    graph = model.graph
    taken = {n for node in graph.node for n in [*node.input, *node.output]}
    taken |= {v.name for v in [*graph.input, *graph.output, *graph.initializer]}
    names = TensorNames(**{role: _free(role, taken) for role in TensorNames.model_fields})
    layer_width = sum(source.widths)
    before: list[onnx.NodeProto] = []
    after: list[onnx.NodeProto] = []
    feeds = {source.inputs} | {given for given, _ in source.states}
    kept = [v for v in graph.input if v.name not in feeds]

    def constant(name: str, values: list[int]) -> str:
        tensor = helper.make_tensor(
            f"{names.state}_{name}", TensorProto.INT64, [len(values)], values
        )
        graph.initializer.append(tensor)
        return tensor.name

    before.append(_relayout(names.inputs, source.inputs, source.batch_first))
    layered = f"{names.initial_state}_layered"
    before.append(
        helper.make_node(
            "Reshape",
            [names.initial_state, constant("in_shape", [0, source.layers, layer_width])],
            [layered],
        )
    )
    split = [f"{names.initial_state}_part{i}" for i in range(len(source.states))]
    if len(split) == 1:
        before.append(helper.make_node("Identity", [layered], split))
    elif _opset(model) >= 13:  # the sizes became an input in opset 13
        widths = constant("widths", list(source.widths))
        before.append(helper.make_node("Split", [layered, widths], split, axis=2))
    else:
        sizes = list(source.widths)
        before.append(helper.make_node("Split", [layered], split, axis=2, split=sizes))
    for part, (given, _) in zip(split, source.states, strict=True):
        before.append(helper.make_node("Transpose", [part], [given], perm=[1, 0, 2]))
    after.append(_relayout(source.outputs, names.outputs, source.batch_first))
    batch_major = [f"{names.state}_part{i}" for i in range(len(source.states))]
    for (_, final), part in zip(source.states, batch_major, strict=True):
        after.append(helper.make_node("Transpose", [final], [part], perm=[1, 0, 2]))
    joined = f"{names.state}_joined"
    after.append(helper.make_node("Concat", batch_major, [joined], axis=2))
    size = source.state_size
    after.append(
        helper.make_node("Reshape", [joined, constant("out_shape", [0, size])], [names.state])
    )
    nodes = [*before, *graph.node, *after]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.extend(
        [
            _value(names.inputs, ["batch", "steps", source.features]),
            _value(names.initial_state, ["batch", size]),
            *kept,
        ]
    )
    del graph.output[:]
    graph.output.extend(
        [
            _value(names.outputs, ["batch", "steps", source.output_width]),
            _value(names.state, ["batch", size]),
        ]
    )
    del graph.value_info[:]  # the original's shapes of x, h0 ... no longer hold for the wrapper
    onnx.checker.check_model(model)
    return model, names


def reference(source: LayeredState) -> Reference:
    """The original graph, fed and read in the contract's layout: what the wrapper must answer."""
    run = _session(source.model)

    def answer(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sequence, final = _run(run, source, inputs, source.parts(state))
        return sequence, source.flat(final)

    return answer


# --- reading the original graph


def _probe(
    model: onnx.ModelProto,
    sequence_in: str,
    given: list[str],
    widths: tuple[int, ...],
    layers: int,
    mapping: Mapping,
    candidates: dict[str, onnx.ValueInfoProto],
) -> tuple[bool, int, int, list[str]]:
    """Batch first or not, the features, the output width, and the output names: the
    sequence's, then each state's. Runs the original on a probe to tell."""
    features = _static(_inputs_by_name(model)[sequence_in], 2, "the sequence input")
    run = _session(model)
    rng = np.random.default_rng(0)
    states = [rng.uniform(-0.5, 0.5, (layers, PROBE_BATCH, w)).astype(np.float32) for w in widths]
    inputs = rng.normal(size=(PROBE_BATCH, PROBE_STEPS, features)).astype(np.float32)
    feeds = dict(zip(given, states, strict=True))
    answers = None
    for batch_first in (True, False):
        sequence = inputs if batch_first else inputs.transpose(1, 0, 2).copy()
        try:
            found = run.run(None, {sequence_in: sequence, **feeds})
        except Exception:  # the other order may be the one
            continue
        answers = dict(zip([o.name for o in run.get_outputs()], found, strict=True))
        break
    if answers is None:
        raise ConversionError(
            f"the graph runs neither with {sequence_in!r} batch first nor time first beside "
            f"states of shape (layers, batch, hidden): map its tensors with --io"
        )
    sequence_shape = (PROBE_BATCH, PROBE_STEPS) if batch_first else (PROBE_STEPS, PROBE_BATCH)
    shaped = {n for n in candidates if answers[n].shape[:2] == sequence_shape}
    out = mapping.outputs or _the_one(
        sorted(shaped - {f for _, f in mapping.states}), "sequence output", "outputs=NAME"
    )
    output_width = int(answers[out].shape[2])
    shapes = {name: answers[name].shape for name in candidates if name != out}
    finals = _carried_pairs(
        model, sequence_in, given, states, inputs, batch_first, shapes, out, mapping
    )
    return batch_first, features, output_width, [out, *finals]


def _carried_pairs(
    model: onnx.ModelProto,
    sequence_in: str,
    given: list[str],
    states: list[np.ndarray],
    inputs: np.ndarray,
    batch_first: bool,
    shapes: dict[str, tuple[int, ...]],
    out: str,
    mapping: Mapping,
) -> list[str]:
    """Each state input's output: as mapped, or, among the outputs of its shape on the probe,
    the order whose state carries over a run in two chunks (graph order first)."""
    mapped = [final for _, final in mapping.states]
    options = [[f] for f in mapped] if mapped else [[n for n in shapes] for _ in given]
    options = [
        [n for n in names if shapes.get(n) == s.shape]
        for names, s in zip(options, states, strict=True)
    ]
    orders = [p for p in itertools.product(*options) if len(set(p)) == len(p)]
    if not orders:
        wanted = ", ".join(f"{name} {s.shape}" for name, s in zip(given, states, strict=True))
        found = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ConversionError(
            f"the states do not pair up: each state input needs an output of its shape (on a "
            f"probe: {wanted}; outputs {found}); map them with --io state=IN:OUT+IN:OUT"
        )
    for finals in orders:
        pairs = list(zip(given, finals, strict=True))
        if _carries(model, sequence_in, pairs, out, batch_first, states, inputs):
            return list(finals)
    raise ConversionError(
        "the graph's state is not carried: its final state, fed back in, does not continue the "
        "sequence (a run in two chunks differs from one run), so a served sequence would drift"
    )


def _carries(
    model: onnx.ModelProto,
    sequence_in: str,
    pairs: list[tuple[str, str]],
    out: str,
    batch_first: bool,
    states: list[np.ndarray],
    inputs: np.ndarray,
) -> bool:
    run = _session(model)
    axis = 1 if batch_first else 0
    sequence = inputs if batch_first else inputs.transpose(1, 0, 2).copy()
    finals = [final for _, final in pairs]

    def once(part: np.ndarray, given: list[np.ndarray]) -> list[np.ndarray]:
        feeds = {sequence_in: np.ascontiguousarray(part)}
        feeds |= {name: value for (name, _), value in zip(pairs, given, strict=True)}
        return run.run([out, *finals], feeds)

    whole = once(sequence, states)
    first = once(np.take(sequence, range(PROBE_CUT), axis=axis), states)
    second = once(np.take(sequence, range(PROBE_CUT, PROBE_STEPS), axis=axis), first[1:])
    tail = np.take(whole[0], range(PROBE_CUT, PROBE_STEPS), axis=axis)
    return np.allclose(second[0], tail, atol=1e-5) and all(
        np.allclose(a, b, atol=1e-5) for a, b in zip(second[1:], whole[1:], strict=True)
    )


def _state_dims(
    inputs: dict[str, onnx.ValueInfoProto], given: list[str]
) -> tuple[tuple[int, ...], int]:
    layers = {_static(inputs[name], 0, "state") for name in given}
    if len(layers) != 1:
        raise ConversionError(
            f"the states {given} have different numbers of layers {sorted(layers)}; they must "
            "have the same"
        )
    return tuple(_static(inputs[name], 2, "state") for name in given), layers.pop()


def _refuse_bidirectional(model: onnx.ModelProto) -> None:
    for node in recurrent_nodes(model):
        direction = next((a.s.decode() for a in node.attribute if a.name == "direction"), "forward")
        if direction != "forward":
            raise ConversionError(
                f"{node.op_type} node {node.name!r} is {direction}: its final state holds the "
                "backward pass's first step, which a stream cannot continue; export it "
                "unidirectional"
            )


def _run(
    run: ort.InferenceSession, source: LayeredState, inputs: np.ndarray, parts: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    sequence = inputs if source.batch_first else inputs.transpose(1, 0, 2).copy()
    feeds = {source.inputs: sequence} | {
        g: p for (g, _), p in zip(source.states, parts, strict=True)
    }
    found = run.run([source.outputs, *(final for _, final in source.states)], feeds)
    outputs = found[0] if source.batch_first else found[0].transpose(1, 0, 2)
    return outputs, found[1:]


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # a probe's shapes may differ from the export's example
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    constants = {init.name for init in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in constants]


def _inputs_by_name(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    return {v.name: v for v in _inputs(model)}


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    return [
        d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim
    ]


def _rank(value: onnx.ValueInfoProto) -> int:
    return len(value.type.tensor_type.shape.dim)


def _check_rank(value: onnx.ValueInfoProto, rank: int, role: str) -> None:
    if _rank(value) != rank:
        raise ConversionError(
            f"tensor {value.name!r} ({role}) has rank {_rank(value)}; a state is (layers, batch, "
            "hidden) here"
        )


def _static(value: onnx.ValueInfoProto, axis: int, what: str) -> int:
    dims = _dims(value)
    size = dims[axis] if axis < len(dims) else None
    if not size:
        raise ConversionError(f"{what} {value.name!r} needs a fixed size on axis {axis}")
    return size


def _the_one(names: list[str], what: str, flag: str) -> str:
    if len(names) != 1:
        raise ConversionError(
            f"cannot tell the graph's {what} among {names}: name it with --io {flag}"
        )
    return names[0]


def _first(names: list[str], otherwise: str) -> str:
    if not names:
        raise ConversionError(f"the graph has {otherwise}")
    return names[0]


def _free(name: str, taken: set[str]) -> str:
    """``name``, or ``name1``, ``name2``... where the graph already uses it."""
    suffixes = itertools.chain([""], map(str, itertools.count(1)))
    candidates = (f"{name}{suffix}" for suffix in suffixes)
    return next(candidate for candidate in candidates if candidate not in taken)


def _relayout(source: str, target: str, batch_first: bool) -> onnx.NodeProto:
    """(batch, steps, width) from or to the graph's order: the same, or time first."""
    if batch_first:
        return helper.make_node("Identity", [source], [target])
    return helper.make_node("Transpose", [source], [target], perm=[1, 0, 2])


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _value(name: str, dims: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
