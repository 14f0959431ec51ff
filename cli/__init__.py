"""``rnn-serve``: the one command. ``serve`` runs the service; ``convert`` turns a Keras model,
a PyTorch state_dict or an ONNX file into a served model.

Each subcommand imports only what it needs: ``serve`` never loads torch or keras, and
``convert`` needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from service.settings import configured_model_dir

REFUSED = 2  # argparse's code for bad usage: a refused conversion is the same kind of answer


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from service.__main__ import serve

        serve(args.host, args.port)
        return 0
    return _convert(args, argv)


def _parser() -> argparse.ArgumentParser:
    from service.__main__ import add_arguments

    parser = argparse.ArgumentParser(prog="rnn-serve", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_arguments(commands.add_parser("serve", help="serve the models of RNN_SERVE_MODEL_DIR"))
    convert = commands.add_parser(
        "convert",
        help="convert a Keras, PyTorch or ONNX model for serving",
        description="Writes NAME.onnx, its batch graph NAME.scan.onnx and NAME.json into DIR.",
    )
    convert.add_argument(
        "source",
        type=Path,
        metavar="SOURCE",
        help=".keras or .h5 model, PyTorch state_dict, or ONNX file",
    )
    convert.add_argument("--name", required=True, help="the model's name in the API")
    convert.add_argument(
        "--out", type=Path, metavar="DIR", help="default: the model directory (RNN_SERVE_MODEL_DIR)"
    )
    convert.add_argument("--version", default="1")
    convert.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="forecast from the last N observations (outputs must feed back)",
    )
    convert.add_argument(
        "--io", metavar="MAP", help="ONNX only: inputs=A,initial_state=B,outputs=C,state=D"
    )
    convert.add_argument(
        "--activation",
        choices=["tanh", "relu"],
        default="tanh",
        help="PyTorch nn.RNN only: its nonlinearity (not in a state_dict)",
    )
    convert.add_argument(
        "--difference",
        type=int,
        choices=[0, 1],
        default=0,
        help="with --window: difference the series before the model",
    )
    convert.add_argument(
        "--mean",
        type=float,
        default=0.0,
        help="with --window: the model reads (value - mean) / std",
    )
    convert.add_argument("--std", type=float, default=1.0)
    convert.add_argument(
        "--seasonal", type=int, metavar="S", help="with --window: difference at lag S instead"
    )
    convert.add_argument(
        "--log", action="store_true", help="with --window: the model reads the series' logs"
    )
    return parser


def _convert(args: argparse.Namespace, argv: list[str]) -> int:
    try:
        return _convert_with_train_extra(args, argv)
    except ModuleNotFoundError as error:
        print(
            f"rnn-serve convert: error: {error.name} is not installed; converting needs the "
            "train extra: pip install 'rnn-serve[train]' (in a checkout: make install)",
            file=sys.stderr,
        )
        return 1


def _convert_with_train_extra(args: argparse.Namespace, argv: list[str]) -> int:
    from contract.manifest import Preprocessing
    from model.convert import ConversionError, Target, convert

    if not args.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        print(
            f"rnn-serve convert: error: --name {args.name!r}: letters, digits, '-', '_', '.'",
            file=sys.stderr,
        )
        return REFUSED
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
        print(f"rnn-serve convert: error: {error}", file=sys.stderr)
        return REFUSED
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


if __name__ == "__main__":
    sys.exit(main())
