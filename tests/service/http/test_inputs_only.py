"""The shortcut for inputs-only bodies accepts exactly what the full path accepts, and reads
the same numbers."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnn_serve.service.errors import ServeError
from rnn_serve.service.http.body import validate
from rnn_serve.service.http.inputs_only import inputs_only
from rnn_serve.service.http.schemas import PredictRequest
from rnn_serve.service.http.tensors import FLOAT32_MAX, PYTHON_CHECK_MAX
from rnn_serve.service.http.v1 import parse_predict

shapes = st.tuples(*[st.integers(1, 5)] * 3)
finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


def full_path(raw: bytes) -> np.ndarray | None:
    try:
        return validate(PredictRequest, raw).inputs
    except ServeError:
        return None


def assert_read_alike(text: str) -> None:
    """Both paths accept the body or both refuse it, and agree on what they accept."""
    raw = b'{"inputs": ' + text.encode() + b"}"
    fast, full = inputs_only(raw), full_path(raw)
    assert (fast is None) == (full is None), (raw, fast, full)
    if fast is not None:
        np.testing.assert_array_equal(fast, full)


@given(arrays(np.float64, shapes, elements=finite), st.sampled_from([b"", b" ", b"\n  "]))
def test_valid_bodies_read_the_same_numbers(values, blank):
    raw = orjson.dumps({"inputs": values.tolist()}).replace(b",", b"," + blank)
    np.testing.assert_array_equal(inputs_only(raw), full_path(raw))


@settings(max_examples=500)
@given(st.text(alphabet="[]0123456789,.-+eE \n", max_size=40))
def test_any_array_text_is_read_alike_or_left_to_the_full_path(text):
    assert_read_alike(text)


numberish = st.text(alphabet="0123456789.-+eE", max_size=4)


def nested(leaf: st.SearchStrategy[str], rank: int) -> st.SearchStrategy[str]:
    """Array text of ``rank`` levels, ragged or not, around number-like (or not) leaves."""
    inner = leaf if rank == 1 else nested(leaf, rank - 1)
    return st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")


@settings(max_examples=1000)
@given(
    st.one_of(
        nested(numberish, 3),
        nested(st.sampled_from(["1", "-2.5e1", "0.125"]), 3),
        nested(st.just("1"), 2),
        nested(st.just("1"), 4),
    )
)
def test_nested_arrays_ragged_or_not_are_read_alike_or_left_to_the_full_path(text):
    assert_read_alike(text)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"inputs": [[[1]2]]}',  # a number where a comma belongs
        b'{"inputs": [[[1],[]]]}',  # an empty list
        b'{"inputs": [[[1,2],[3]]]}',  # ragged
        b'{"inputs": [[[1]],[[2],[3]]]}',
        b'{"inputs": [[[1]]], "sequence": {"id": "a"}}',  # more than inputs
        b'{"inputs": [[[1e400]]]}',  # beyond float32
        b'{"inputs": [[[01]]]}',  # not a JSON number
        b'{"inputs": [[[true]]]}',
        b'{"inputs": [[1]]}',  # rank 2
    ],
)
def test_anything_else_takes_the_full_path(raw):
    assert inputs_only(raw) is None


def test_a_first_row_that_claims_a_huge_shape_costs_nothing():
    # Rows counted across the body, steps and features from the first row: 1000 x 1000 x 1000
    # if believed. The length check refuses it before anything that size is built.
    first = b"[" + b",".join([b"[" + b"0," * 999 + b"0]"] * 1000) + b"]"
    raw = b'{"inputs": [' + first + b",[[0]]" * 999 + b"]}"
    assert inputs_only(raw) is None


specials = st.sampled_from([3.5e38, -3.41e38, 2**70, -(2**63), True, False, None, "1", []])
leaves = st.one_of(st.floats(allow_nan=True, allow_infinity=True), specials)


@st.composite
def rectangular(draw: st.DrawFn) -> list:
    """(a, b, c) lists of numbers, where one may be something else."""
    a, b, c = draw(shapes)
    values = [[[draw(finite) for _ in range(c)] for _ in range(b)] for _ in range(a)]
    if draw(st.booleans()):
        values[draw(st.integers(0, a - 1))][-1][draw(st.integers(0, c - 1))] = draw(leaves)
    return values


def outcome(parse, raw: bytes) -> np.ndarray | str:
    try:
        return parse(raw).inputs
    except ServeError as error:
        return f"{error.status_code}: {error.message}"


@settings(max_examples=500)
@given(
    st.one_of(
        rectangular(),
        st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=12),
    )
)
def test_a_small_body_of_inputs_alone_is_read_as_the_request_model_reads_it(inputs):
    # Booleans beside numbers, numbers past float32, ragged lists, ranks other than 3: the
    # shortcut that skips the request model takes what it takes, and refuses nothing itself.
    raw = json.dumps({"inputs": inputs}).encode()  # NaN and Infinity too
    fast, full = outcome(parse_predict, raw), outcome(lambda r: validate(PredictRequest, r), raw)
    if isinstance(full, str):
        assert fast == full
    else:
        np.testing.assert_array_equal(fast, full)
        assert fast.dtype == full.dtype == np.float32


@pytest.mark.parametrize(
    ("odd", "accepted"),
    [
        (None, True),
        (FLOAT32_MAX, True),
        (-FLOAT32_MAX, True),
        (3.5e38, False),
        (-1e39, False),
        (2**130, False),
        (3.4028235e38, False),  # past the largest float32, which a cast would round it to
        (-3.4028235e38, False),
    ],
)
@pytest.mark.parametrize("steps", [4, PYTHON_CHECK_MAX + 1])  # checked by Python, by NumPy
def test_short_and_long_bodies_are_read_alike(odd, accepted, steps):
    values = np.linspace(-1, 1, steps).reshape(1, steps, 1).tolist()
    if odd is not None:
        values[0][steps // 2][0] = odd
    raw = json.dumps({"inputs": values}).encode()
    fast, full = inputs_only(raw), full_path(raw)
    assert (fast is not None) == (full is not None) == accepted
    if fast is not None:
        np.testing.assert_array_equal(fast, full)
