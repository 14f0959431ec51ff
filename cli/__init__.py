"""``rnn-serve``: the one command. ``serve`` runs the service (``serve.py``); ``convert`` turns a
Keras model, a PyTorch state_dict or an ONNX file into a served model (``convert.py``); ``train``
makes one from a CSV or Parquet file of series (``train.py``).

Each subcommand imports only what it needs when it runs: ``serve`` never loads torch or keras,
and ``convert`` and ``train`` need the ``train`` extra (``refusals.py`` says so).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Protocol

from rnn_serve.cli import convert, serve, train

if TYPE_CHECKING:
    from rnn_serve.cli.refusals import Subcommands


class Subcommand(Protocol):
    def add(self, commands: Subcommands) -> None: ...
    def run(self, args: argparse.Namespace, argv: list[str]) -> int: ...


COMMANDS: dict[str, Subcommand] = {"serve": serve, "convert": convert, "train": train}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    return COMMANDS[args.command].run(args, argv)


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="rnn-serve",
        description="Serve recurrent networks in ONNX, convert yours, or train one on your series.",
    )
    commands = found.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add(commands)
    return found
