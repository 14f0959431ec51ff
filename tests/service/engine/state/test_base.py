"""The stored record of a sequence, as Redis holds it between requests and replicas."""

from __future__ import annotations

import numpy as np

from service.engine.state.base import SequenceState


def test_a_record_round_trips_with_its_version():
    record = SequenceState(
        np.arange(6, dtype=np.float32).reshape(2, 3), np.array([[1.5], [2.5]]), 41, "12"
    )
    back = SequenceState.from_bytes(record.to_bytes())
    np.testing.assert_array_equal(back.state, record.state)
    np.testing.assert_array_equal(back.tail, record.tail)
    assert (back.steps, back.version) == (41, "12")


def test_a_record_written_before_versions_were_kept_reads_as_version_empty():
    record = SequenceState(np.ones((1, 2), np.float32), np.zeros((1, 0)), 3, "7")
    older = record.to_bytes().removesuffix(b"7")  # what the previous release wrote
    assert SequenceState.from_bytes(older).version == ""
