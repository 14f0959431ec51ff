"""The most common body, ``{"inputs": [[[numbers]]]}`` and nothing else, read from its bytes.

Parsing it as JSON builds a Python list for every sequence and every step (3,136 lists for a
64x48x1 request) only to flatten them again. Here the brackets are checked on their own: with
every number and blank removed, what is left of a rectangular array of shape (a, b, c) is one
exact byte string, built from the shape read off its first rows. The numbers, with brackets
turned to blanks, are then parsed as one flat JSON list, which also rejects anything that is
not a valid JSON number in a valid place. Any body that does not fit returns None and takes the
full path (service/api/body.py), which accepts the same bodies and names what is wrong in the
others: the two are compared on generated bodies in tests/service/test_inputs_only.py.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import orjson
from numpy.typing import NDArray

from rnn_serve.service.http.tensors import finite_numbers

RANK = 3
HEAD = re.compile(rb'\s*\{\s*"inputs"\s*:')
NUMBER_AND_BLANK = b"0123456789.eE+- \t\r\n"
BRACKETS_TO_BLANKS = bytes.maketrans(b"[]", b"  ")
CACHED_SKELETON_BYTES = 4096  # a (1, 1024, 1) request's: 64 of them take 256 KB at most


def inputs_only(raw: bytes) -> NDArray[np.float32] | None:
    """The float32 inputs of a body that holds only them, or None."""
    head = HEAD.match(raw)
    end = raw.rfind(b"}")
    if head is None or end < 0 or raw[end + 1 :].strip():
        return None
    text = raw[head.end() : end]
    shape = _shape(text.translate(None, NUMBER_AND_BLANK))
    if shape is None:
        return None
    try:
        numbers = orjson.loads(b"[" + text.translate(BRACKETS_TO_BLANKS) + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(numbers) != math.prod(shape):  # fewer: an empty list somewhere
        return None
    return finite_numbers(numbers, shape)


def _shape(skeleton: bytes) -> tuple[int, ...] | None:
    """``_rectangular_shape``, remembered for small skeletons: a client sends one shape
    again and again, and building the expected skeleton took half of a small body's reading."""
    if len(skeleton) > CACHED_SKELETON_BYTES:
        return _rectangular_shape(skeleton)
    return _cached_shape(skeleton)


def _rectangular_shape(skeleton: bytes) -> tuple[int, ...] | None:
    """The shape whose brackets and commas are exactly ``skeleton``, or None."""
    if not skeleton.startswith(b"[" * RANK) or skeleton[RANK : RANK + 1] == b"[":
        return None
    shape = []
    for depth in range(RANK):  # count the items of the first list at each depth
        inner = RANK - depth - 1
        first_list_end = skeleton.find(b"]" * (inner + 1))
        separator = b"]" * inner + b"," + b"[" * inner
        shape.append(skeleton.count(separator, depth, first_list_end) + 1)
    size = 0
    for length in reversed(shape):  # the length first, so a lying first row costs nothing
        size = 2 + length * size + (length - 1)
    if size != len(skeleton):
        return None
    expected = b""
    for length in reversed(shape):
        expected = b"[" + b",".join([expected] * length) + b"]"
    return tuple(shape) if skeleton == expected else None


_cached_shape = functools.lru_cache(maxsize=64)(_rectangular_shape)
