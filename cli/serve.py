"""``rnn-serve serve``: the service on a directory of models (as ``python -m rnn_serve.service``
does)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnn_serve.cli.refusals import Subcommands


def add(commands: Subcommands) -> None:
    from rnn_serve.service.__main__ import add_arguments

    add_arguments(commands.add_parser("serve", help="serve a directory of models"))


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from rnn_serve.service.__main__ import serve

    serve(args.host, args.port, args.model_dir)
    return 0
