"""Manifests: what older ones said still reads, and what a converted one records."""

from __future__ import annotations

import json

from rnn_serve.contract.manifest import Manifest
from tests.support.models import ARTIFACTS


def test_a_manifest_from_before_stacked_layers_still_loads():
    """They called the state's width hidden_size, and had no layers, io or source."""
    fields = json.loads((ARTIFACTS / "seed-demo.json").read_text())
    fields["hidden_size"] = fields.pop("state_size")
    for newer in ("layers", "head", "io", "source"):
        fields.pop(newer, None)
    manifest = Manifest.model_validate(fields)
    assert manifest.state_size == 7 and manifest.layers is None
    assert (manifest.io.inputs, manifest.io.state) == ("inputs", "state")


def test_the_shipped_manifests_describe_their_layers():
    co2 = Manifest.read(ARTIFACTS / "co2.json")
    assert [layer.model_dump(exclude_none=True) for layer in co2.layers] == [
        {"cell": "rnn", "hidden_size": 32, "activation": "tanh"}
    ]
    assert co2.head == [1] and co2.state_size == 32
