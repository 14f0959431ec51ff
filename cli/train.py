"""``rnn-serve train``: a forecaster made from a CSV or Parquet file of series
(``model/series/``, with the train extra)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from rnn_serve.cli.refusals import refuse, with_train_extra
from rnn_serve.service.settings import configured_model_dir

if TYPE_CHECKING:
    from rnn_serve.cli.refusals import Subcommands
    from rnn_serve.model.series.blend import Choice


def add(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a forecaster on your series (CSV or Parquet)",
        description="Chooses preprocessing, window, cell and size by rolling-origin "
        "validation, scores the model on a held-out test period against seasonal naive and "
        "Holt-Winters, calibrates prediction intervals, and writes NAME.onnx, "
        "NAME.scan.onnx, NAME.json and NAME.png into DIR.",
    )
    parser.add_argument("data", type=Path, metavar="DATA", help="a .csv or .parquet file")
    parser.add_argument("--name", required=True, help="the model's name in the API")
    parser.add_argument("--value-column", required=True, metavar="Y", help="the values")
    parser.add_argument("--time-column", metavar="T", help="timestamps (parsed, then sorted)")
    parser.add_argument("--id-column", metavar="ID", help="series ids, for many series in one file")
    parser.add_argument("--freq", metavar="F", help="pandas frequency (W, MS, QS...); inferred")
    parser.add_argument("--season", type=int, metavar="S", help="default: from the frequency")
    parser.add_argument("--horizon", type=int, metavar="H", help="default: the season, or 8")
    parser.add_argument(
        "--levels", default="50,80,90,95,99", metavar="L,L", help="interval levels in percent"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="time for the whole command on a 2-core machine, planned ahead (never read from "
        "the clock) so the result does not depend on the machine",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="default: the model directory (RNN_SERVE_MODEL_DIR)"
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="default: DIR/NAME.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", default="1")


def run(args: argparse.Namespace, argv: list[str]) -> int:
    return with_train_extra("train", _train, args, argv)


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from rnn_serve.model.series.evaluate import markdown_table
    from rnn_serve.model.series.load import DataError
    from rnn_serve.model.series.train import TrainRequest, train_series

    try:
        levels = tuple(sorted({int(level) for level in args.levels.split(",")}))
    except ValueError:
        return refuse("train", f"--levels {args.levels!r}: percentages such as 80,95")
    if not levels or not all(0 < level < 100 for level in levels):
        return refuse("train", f"--levels {args.levels!r}: each between 1 and 99")
    for flag, value in (("--season", args.season), ("--horizon", args.horizon)):
        if value is not None and value < 1:
            return refuse("train", f"{flag} {value}: at least 1")
    if args.budget_s <= 0:
        return refuse("train", f"--budget-s {args.budget_s}: more than 0")
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
        return refuse("train", str(error))
    manifest, found = trained.manifest, trained.manifest.intervals
    assert found is not None  # rnn-serve train always calibrates intervals
    chosen = manifest.training["chosen"]
    print(
        f"{manifest.name}: {chosen['preprocessing']}, window {chosen['window']}, "
        f"{chosen['cell']} {chosen['hidden_size']}; {len(manifest.training['search'])} "
        f"candidates and {found.calibration['backtest_folds']} backtest folds "
        f"in {trained.seconds:.0f} s (planned {trained.plan.expected_s:.0f} s)"
    )
    if trained.plan.expected_s > args.budget_s:
        print(
            f"--budget-s {args.budget_s:g} is less than the smallest plan for this data needs "
            f"({trained.plan.expected_s:g} s): it ran that plan"
        )
    print(_blend_line(trained.choice))
    print(f"\ntest period ({manifest.metrics['test_steps']} steps per series):\n")
    print(markdown_table(trained.table))
    coverage = ", ".join(f"{level}%: {share:.1%}" for level, share in found.coverage.items())
    print(f"\ninterval coverage on the test period: {coverage}")
    written = [request.out / manifest.onnx_file, request.out / f"{manifest.name}.json"]
    print("wrote " + ", ".join(str(path) for path in [*written, trained.plot]))
    return 0


def _blend_line(choice: Choice) -> str:
    """What the served forecast is made of, plainly: above all where naive won."""
    if choice.blend is None:
        return "served forecasts: the network alone (it beat seasonal naive at every step)"
    lost = "; ".join(
        f"{name + ' at ' if name else ''}steps {', '.join(map(str, steps))}"
        for name, steps in choice.naive_wins().items()
    )
    plain = (
        f"no network beat seasonal naive in every validation period for {lost}: the served "
        "forecasts there are seasonal naive's; "
        if lost
        else ""
    )
    weights = ", ".join(f"{w:g}" for w in choice.blend.weights)
    return (
        f"{plain}served forecasts: the network blended with seasonal naive, its weight per step "
        f"{weights}"
        + (" (pooled; each series has its own, in the manifest)" if choice.blend.series else "")
    )
