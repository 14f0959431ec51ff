"""``rnn-serve``: the one command. ``serve`` runs the service; ``convert`` turns a Keras model,
a PyTorch state_dict or an ONNX file into a served model; ``train`` makes one from a CSV or
Parquet file of series.

Each subcommand imports only what it needs: ``serve`` never loads torch or keras, and
``convert`` and ``train`` need the ``train`` extra.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from service.settings import configured_model_dir

REFUSED = 2  # argparse's code for bad usage: a refused conversion is the same kind of answer


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from service.__main__ import serve

        serve(args.host, args.port, args.model_dir)
        return 0
    run = _convert_with_train_extra if args.command == "convert" else _train
    return _with_train_extra(args.command, run, args, argv)


def _parser() -> argparse.ArgumentParser:
    from service.__main__ import add_arguments

    parser = argparse.ArgumentParser(prog="rnn-serve", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_arguments(commands.add_parser("serve", help="serve a directory of models"))
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
    _add_train(commands)
    return parser


def _add_train(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = commands.add_parser(
        "train",
        help="train a forecaster on your series (CSV or Parquet)",
        description="Chooses preprocessing, window, cell and size by rolling-origin "
        "validation, scores the model on a held-out test period against seasonal naive and "
        "Holt-Winters, calibrates prediction intervals, and writes NAME.onnx, "
        "NAME.scan.onnx, NAME.json and NAME.png into DIR.",
    )
    train.add_argument("data", type=Path, metavar="DATA", help="a .csv or .parquet file")
    train.add_argument("--name", required=True, help="the model's name in the API")
    train.add_argument("--value-column", required=True, metavar="Y", help="the values")
    train.add_argument("--time-column", metavar="T", help="timestamps (parsed, then sorted)")
    train.add_argument("--id-column", metavar="ID", help="series ids, for many series in one file")
    train.add_argument("--freq", metavar="F", help="pandas frequency (W, MS, QS...); inferred")
    train.add_argument("--season", type=int, metavar="S", help="default: from the frequency")
    train.add_argument("--horizon", type=int, metavar="H", help="default: the season, or 8")
    train.add_argument(
        "--levels", default="50,80,90,95,99", metavar="L,L", help="interval levels in percent"
    )
    train.add_argument(
        "--budget-s",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="time for the search, planned ahead so the result does not depend on the machine",
    )
    train.add_argument(
        "--out", type=Path, metavar="DIR", help="default: the model directory (RNN_SERVE_MODEL_DIR)"
    )
    train.add_argument("--plot", type=Path, metavar="PNG", help="default: DIR/NAME.png")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--version", default="1")


def _with_train_extra(
    command: str,
    run: Callable[[argparse.Namespace, list[str]], int],
    args: argparse.Namespace,
    argv: list[str],
) -> int:
    if not args.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return _refuse(command, f"--name {args.name!r}: letters, digits, '-', '_', '.'")
    try:
        return run(args, argv)
    except ModuleNotFoundError as error:
        print(
            f"rnn-serve {command}: error: {error.name} is not installed; {command} needs the "
            "train extra: pip install 'rnn-serve[train]' (in a checkout: make install)",
            file=sys.stderr,
        )
        return 1


def _refuse(command: str, message: str) -> int:
    print(f"rnn-serve {command}: error: {message}", file=sys.stderr)
    return REFUSED


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from model.series.evaluate import markdown_table
    from model.series.load import DataError
    from model.series.train import TrainRequest, train_series

    try:
        levels = tuple(sorted({int(level) for level in args.levels.split(",")}))
    except ValueError:
        return _refuse("train", f"--levels {args.levels!r}: percentages such as 80,95")
    if not levels or not all(0 < level < 100 for level in levels):
        return _refuse("train", f"--levels {args.levels!r}: each between 1 and 99")
    for flag, value in (("--season", args.season), ("--horizon", args.horizon)):
        if value is not None and value < 1:
            return _refuse("train", f"{flag} {value}: at least 1")
    if args.budget_s <= 0:
        return _refuse("train", f"--budget-s {args.budget_s}: more than 0")
    request = TrainRequest(
        data=args.data,
        name=args.name,
        value_column=args.value_column,
        out=args.out or configured_model_dir(),
        time_column=args.time_column,
        id_column=args.id_column,
        freq=args.freq,
        season=args.season,
        horizon=args.horizon,
        levels=levels,
        budget_s=args.budget_s,
        plot=args.plot,
        seed=args.seed,
        version=args.version,
        command=shlex.join(["rnn-serve", *argv]),
    )
    try:
        trained = train_series(request)
    except DataError as error:
        return _refuse("train", str(error))
    manifest, found = trained.manifest, trained.manifest.intervals
    assert found is not None  # rnn-serve train always calibrates intervals
    chosen = manifest.training["chosen"]
    print(
        f"{manifest.name}: {chosen['preprocessing']}, window {chosen['window']}, "
        f"{chosen['cell']} {chosen['hidden_size']}; {len(manifest.training['search'])} "
        f"candidates and {found.calibration['backtest_folds']} backtest folds "
        f"in {trained.seconds:.0f} s (planned {trained.plan.expected_s:.0f} s)"
    )
    print(f"\ntest period ({manifest.metrics['test_steps']} steps per series):\n")
    print(markdown_table(trained.table))
    coverage = ", ".join(f"{level}%: {share:.1%}" for level, share in found.coverage.items())
    print(f"\ninterval coverage on the test period: {coverage}")
    written = [request.out / manifest.onnx_file, request.out / f"{manifest.name}.json"]
    print("wrote " + ", ".join(str(path) for path in [*written, trained.plot]))
    return 0


def _convert_with_train_extra(args: argparse.Namespace, argv: list[str]) -> int:
    from contract.manifest import Preprocessing
    from model.convert import ConversionError, Target, convert

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
        return _refuse("convert", str(error))
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
