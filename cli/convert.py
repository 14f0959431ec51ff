"""``rnn-serve convert``: a Keras model, a PyTorch state_dict or an ONNX file into a served model
(``model/convert/``, with the train extra)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from rnn_serve.cli.refusals import refuse, with_train_extra
from rnn_serve.service.settings import configured_model_dir

if TYPE_CHECKING:
    from rnn_serve.cli.refusals import Subcommands


def add(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "convert",
        help="convert a Keras, PyTorch or ONNX model for serving",
        description="Writes NAME.onnx, its batch graph NAME.scan.onnx and NAME.json into DIR.",
    )
    parser.add_argument(
        "source",
        type=Path,
        metavar="SOURCE",
        help=".keras or .h5 model, PyTorch state_dict, or ONNX file",
    )
    parser.add_argument("--name", required=True, help="the model's name in the API")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="default: the model directory (RNN_SERVE_MODEL_DIR)"
    )
    parser.add_argument("--version", default="1")
    parser.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="forecast from the last N observations (outputs must feed back)",
    )
    parser.add_argument(
        "--io",
        metavar="MAP",
        help="ONNX only: inputs=A,initial_state=B,outputs=C,state=D; a PyTorch export's "
        "(layers, batch, hidden) states as state=h0:hn+c0:cn",
    )
    parser.add_argument(
        "--activation",
        choices=["tanh", "relu"],
        default="tanh",
        help="PyTorch nn.RNN only: its nonlinearity (not in a state_dict)",
    )
    parser.add_argument(
        "--difference",
        type=int,
        choices=[0, 1],
        default=0,
        help="with --window: difference the series before the model",
    )
    parser.add_argument(
        "--mean",
        type=float,
        default=0.0,
        help="with --window: the model reads (value - mean) / std",
    )
    parser.add_argument("--std", type=float, default=1.0)
    parser.add_argument(
        "--seasonal", type=int, metavar="S", help="with --window: difference at lag S instead"
    )
    parser.add_argument(
        "--log", action="store_true", help="with --window: the model reads the series' logs"
    )


def run(args: argparse.Namespace, argv: list[str]) -> int:
    return with_train_extra("convert", _convert, args, argv)


def _convert(args: argparse.Namespace, argv: list[str]) -> int:
    from rnn_serve.contract.manifest import Preprocessing
    from rnn_serve.model.convert import ConversionError, Target, convert

    out = args.out or configured_model_dir()
    try:
        preprocessing = (
            Preprocessing(
                difference=args.difference,
                mean=args.mean,
                std=args.std,
                seasonal=args.seasonal,
                log=args.log,
            )
            if args.window is not None
            else None
        )
        target = Target(
            name=args.name,
            out=out,
            version=args.version,
            window=args.window,
            preprocessing=preprocessing,
            command=shlex.join(["rnn-serve", *argv]),
        )
        manifest = convert(args.source, target, args.io, args.activation)
    except (ConversionError, ValueError) as error:
        return refuse("convert", str(error))
    layers = ", ".join(f"{s.cell}({s.hidden_size})" for s in manifest.layers or [])
    print(
        f"wrote {out / manifest.onnx_file}"
        + (f" and {out / manifest.batched.onnx_file}" if manifest.batched else "")
        + f", {out / (manifest.name + '.json')}"
    )
    framework = manifest.source.framework if manifest.source else ""
    print(
        f"{manifest.name} v{manifest.version}: {framework} {layers or 'recurrent graph'}, "
        f"features {manifest.features}, "
        f"state_size {manifest.state_size}, forecasts: {'yes' if manifest.window else 'no'}"
    )
    return 0
