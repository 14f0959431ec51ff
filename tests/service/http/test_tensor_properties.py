"""Property tests for the payload validators: whatever arrives, a float32 array or a 4xx."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pydantic_core import PydanticCustomError

from rnn_serve.service.errors import InvalidInput, MalformedRequest
from rnn_serve.service.http.tensors import FLOAT32_MAX, PYTHON_CHECK_MAX, to_array
from rnn_serve.service.http.v1 import parse_predict

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)  # past float64 too
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Context:
    def __init__(self, has_booleans: bool) -> None:
        self.context = {"has_booleans": has_booleans}


@PROPERTY
@given(value=json_values, strict=st.booleans())
def test_any_json_value_is_an_array_or_a_named_error(value, strict):
    try:
        array = to_array(value, "inputs", 3, Context(strict))
    except PydanticCustomError as error:
        assert str(error).startswith("inputs")
        return
    assert array.dtype == np.float32 and array.ndim == 3 and array.size > 0
    assert np.isfinite(array).all()


finite32 = st.floats(-FLOAT32_MAX, FLOAT32_MAX, allow_nan=False, width=32)


@PROPERTY
@given(
    array=hnp.arrays(
        np.float32, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6), elements=finite32
    )
)
def test_rectangular_arrays_round_trip_in_both_paths(array):
    nested = array.tolist()
    fast = to_array(nested, "inputs", 3, Context(False))
    exact = to_array(nested, "inputs", 3, Context(True))
    np.testing.assert_array_equal(fast, array)
    np.testing.assert_array_equal(exact, array)


@PROPERTY
@given(
    document=st.dictionaries(
        st.sampled_from(["inputs", "initial_state", "x"]), json_values, max_size=3
    )
)
def test_raw_bodies_with_nan_and_infinity_tokens_never_escape(document):
    raw = json.dumps(document, allow_nan=True).encode()  # NaN, Infinity, -Infinity tokens
    try:
        request = parse_predict(raw)
    except (InvalidInput, MalformedRequest) as error:
        assert error.message and 400 <= error.status_code < 500
        return
    assert np.isfinite(request.inputs).all()


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_deeply_nested_bodies_are_refused_cleanly(raw):
    with pytest.raises((InvalidInput, MalformedRequest)):
        parse_predict(raw)


def test_a_huge_array_converts():
    array = to_array(np.ones((2000, 500, 1)).tolist(), "inputs", 3)
    assert array.shape == (2000, 500, 1)


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -3.41e38, 2**1100, "1", None, [1.0], {"a": 1}]
)
@pytest.mark.parametrize("steps", [4, PYTHON_CHECK_MAX + 1])  # checked by Python, by NumPy
def test_a_bad_value_is_named_in_short_and_long_lists_alike(bad, steps):
    values = [[[0.5], [7]] * (steps // 2) + [[bad]] + [[0.25]] * (steps % 2)]
    with pytest.raises(PydanticCustomError) as refused:
        to_array(values, "inputs", 3)
    assert f"inputs[0][{steps // 2 * 2}]" in str(refused.value)


@pytest.mark.parametrize("steps", [4, PYTHON_CHECK_MAX + 1])
def test_integers_and_floats_beside_each_other_convert_alike(steps):
    values = [[[index % 3 or 2**70], [0.1 * index]] for index in range(steps)]
    expected = np.array(values, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(to_array(values, "inputs", 3), expected)
