"""The one place that turns JSON numbers into float32 arrays, with errors that name the element.

The fast path flattens the parsed lists level by level and checks the numbers in one pass
(``finite_numbers``). Only when that fails, or when the body holds JSON booleans (which NumPy
would quietly read as 0 and 1), does an exact walk run to find the first offending element and
say what was expected there. Inputs-only bodies skip the lists altogether (inputs_only.py) and
meet the same check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

FLOAT32_MAX = float(np.finfo(np.float32).max)
LARGEST = {dtype: float(np.finfo(dtype).max) for dtype in (np.float32, np.float64)}
PYTHON_CHECK_MAX = 1024  # numbers checked by Python below this many, by NumPy above
AXIS_NAMES = {
    "inputs": ("sequences", "steps", "features"),
    "initial_state": ("rows", "values"),
    "series": ("values",),
}


def to_array(
    value: Any,
    name: str,
    rank: int,
    info: ValidationInfo | None = None,
    dtype: type[np.floating[Any]] = np.float32,
) -> NDArray[np.floating[Any]]:
    """A rectangular, non-empty, finite array of ``rank`` dimensions, or a 422.

    Model inputs are float32, the graph's type. Raw forecast series stay float64 until they
    are differenced: at 315 ppm, float32 keeps only four digits of a weekly change of 0.02.
    """
    strict = bool(info and info.context and info.context.get("has_booleans"))
    flat = None if strict else _flattened(value, rank)
    converted = None if flat is None else finite_numbers(*flat, dtype)
    if converted is not None:
        return converted
    _walk(value, name, name, rank, [None] * rank)  # raises, naming the element, if invalid
    return np.array(value, dtype=dtype)  # valid: only the fast path was skipped


def finite_numbers(
    numbers: list[Any], shape: Sequence[int], dtype: type[np.floating[Any]] = np.float32
) -> NDArray[np.floating[Any]] | None:
    """A flat list of numbers as a finite array of ``shape``, or None where a value is not a
    finite number in ``dtype``'s range (JSON booleans pass as 0 and 1: callers rule them out)."""
    if len(numbers) > PYTHON_CHECK_MAX:
        try:
            array = np.array(numbers)
        except ValueError:  # lists of different lengths below the leaves
            return None
        if array.ndim != 1 or array.dtype.kind not in "iuf":
            return None
        finite = as_finite(array, dtype)
        return None if finite is None else finite.reshape(shape)
    # A few numbers are checked by Python itself: in a server, between inferences that evict
    # the caches, NumPy's array-and-reductions path took 45 us of a (1, 48, 1) request, and
    # this takes half of it. A sum is NaN or infinite when a value is (non-numbers raise), and
    # the extremes bound the rest to dtype's range: nothing can overflow in the cast.
    largest = LARGEST[dtype]
    try:  # an integer past float64's range overflows in isfinite
        total_finite = math.isfinite(sum(numbers))
        low, high = min(numbers), max(numbers)
    except (TypeError, OverflowError):
        return None
    if not (total_finite and -largest <= low and high <= largest):
        return None
    return np.array(numbers, dtype=dtype).reshape(shape)


def as_finite(
    array: NDArray[Any], dtype: type[np.floating[Any]] = np.float32
) -> NDArray[np.floating[Any]] | None:
    """``array`` as ``dtype`` when every value is finite there, else None: the one finite
    check of long number lists (``finite_numbers``) and Open Inference Protocol tensors. One
    reduction checks it: NaN fails the comparison, and infinities and values past ``dtype``'s
    range exceed the bound (an errstate around the cast, and isfinite after it, took twice as
    long). Integers always fit."""
    if array.dtype.kind == "f" and array.size and not np.abs(array).max() <= LARGEST[dtype]:
        return None
    return array.astype(dtype)


def _flattened(value: Any, rank: int) -> tuple[list[Any], list[int]] | None:
    """The leaves of ``rank`` levels of equal-length, non-empty lists, and their shape; None
    for anything else. Checking lengths level by level and converting one flat list is a third
    faster than np.asarray's own discovery."""
    try:
        rows, shape = value, [len(value)]
        for _ in range(rank - 1):
            lengths = set(map(len, rows))
            if len(lengths) != 1:
                return None
            shape.append(lengths.pop())
            rows = list(chain.from_iterable(rows))
    except TypeError:
        return None
    return (rows, shape) if isinstance(rows, list) and rows else None


def _walk(value: Any, name: str, loc: str, levels: int, lengths: list[int | None]) -> None:
    axes = AXIS_NAMES.get(name.split("[")[0], ())
    depth = len(lengths) - levels
    if levels == 0:
        _check_number(value, loc)
        return
    if not isinstance(value, list):
        raise _error(f"{loc} must be a list of {_noun(axes, depth)}, got {_kind(value)}")
    if not value:
        raise _error(f"{loc} is empty: expected at least one of {_noun(axes, depth)}")
    expected = lengths[depth]
    if expected is None:
        lengths[depth] = len(value)
    elif len(value) != expected:
        raise _error(f"{loc} has {len(value)} {_noun(axes, depth)}, expected {expected}")
    for index, item in enumerate(value):
        _walk(item, name, f"{loc}[{index}]", levels - 1, lengths)


def _check_number(value: Any, loc: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(f"{loc} must be a number, got {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(f"{loc} must be a finite number, got {value}")
    if abs(value) > FLOAT32_MAX:  # exact for integers past float64's range too
        beyond = f"beyond the float32 range (±{FLOAT32_MAX:.4g})"
        raise _error(f"{loc} is {_magnitude(value)}, {beyond}")


def _magnitude(value: float) -> str:
    """A number as ``:g`` writes it, or an integer too large for a float by its size."""
    if isinstance(value, int) and value.bit_length() > 1000:
        return f"an integer of {value.bit_length()} bits"
    return f"{value:g}"


def _noun(axes: tuple[str, ...], depth: int) -> str:
    return axes[depth] if depth < len(axes) else "values"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    kinds: dict[type, str] = {str: "a string", dict: "an object", list: "a list"}
    return kinds.get(type(value), "a number")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("tensor", message)
