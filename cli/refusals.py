"""How a subcommand refuses: a message naming what is wrong, and argparse's exit code for bad
usage; and what it says when the train extra is missing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

REFUSED = 2  # argparse's code for bad usage: a refused conversion is the same kind of answer


def refuse(command: str, message: str) -> int:
    print(f"rnn-serve {command}: error: {message}", file=sys.stderr)
    return REFUSED


def with_train_extra(
    command: str,
    run: Callable[[argparse.Namespace, list[str]], int],
    args: argparse.Namespace,
    argv: list[str],
) -> int:
    """``run`` for a subcommand that needs torch: its --name checked first, and a missing
    package named with the extra that brings it."""
    if not args.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return refuse(command, f"--name {args.name!r}: letters, digits, '-', '_', '.'")
    try:
        return run(args, argv)
    except ModuleNotFoundError as error:
        print(
            f"rnn-serve {command}: error: {error.name} is not installed; {command} needs the "
            "train extra: pip install 'rnn-serve[train]' (in a checkout: make install)",
            file=sys.stderr,
        )
        return 1
