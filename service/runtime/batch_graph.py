"""A model's batch graph: the one its manifest names, or, when it has none, one built at load
from its recurrent operators (graphs/loop.py), so that no model is left on the slow path."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import onnx

from rnn_serve.contract.manifest import DEFAULT_MIN_BATCH
from rnn_serve.graphs.loop import LoopError, loop_graph
from rnn_serve.service.runtime.cost import LONG_STEPS
from rnn_serve.service.runtime.predictor import Graph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchGraph:
    graph: Graph
    min_batch: int
    built_at_load: bool

    def describe(
        self, sha256: str | None, used_from_batch: int | None, long_from_batch: int | None
    ) -> dict[str, object]:
        file = self.graph.name if isinstance(self.graph, Path) else None
        return {
            "onnx_file": file,
            "sha256": sha256,
            "built_at_load": self.built_at_load,
            # Measured at start-up: the batch size from which it runs (None: never faster),
            # for calls under long_from_steps steps and for longer ones.
            "min_batch": used_from_batch,
            "min_batch_long": long_from_batch,
            "long_from_steps": LONG_STEPS,
        }


def build_at_load(path: Path) -> BatchGraph | None:
    """The loop graph of ``path``, or None (logged with the reason) when it has no recurrent
    operator that a loop can replace."""
    try:
        graph = loop_graph(onnx.load(str(path)))
    except LoopError as error:
        log.warning("%s: no batch graph, every batch runs the graph as it is: %s", path.name, error)
        return None
    except Exception as error:  # onnx cannot parse it: ONNX Runtime's load will say why
        log.warning("%s: no batch graph: %s", path.name, error)
        return None
    log.info("%s: built its batch graph at load (Scan loops)", path.name)
    return BatchGraph(graph.SerializeToString(), DEFAULT_MIN_BATCH, built_at_load=True)
