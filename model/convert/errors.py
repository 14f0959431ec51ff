"""The one error a conversion refuses with: the CLI prints it and exits 2, writing nothing."""

from __future__ import annotations


class ConversionError(Exception):
    """The source cannot be served as it is; the message names the layer or tensor and why."""
