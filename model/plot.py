"""The PNG the README shows: forecasts against the actual series over the test period."""

from __future__ import annotations

from pathlib import Path

from model.data import Split
from model.evaluate import Predictions, origins


def plot_forecasts(split: Split, predictions: Predictions, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    at = origins(split)
    figure, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for axis, horizon in zip(axes, (1, 12), strict=True):
        valid = at + horizon < len(split.values)
        target = at[valid] + horizon
        axis.plot(target, split.values[target], color="black", linewidth=2, label="actual")
        for name, predicted in predictions.items():
            axis.plot(target, predicted[valid, horizon - 1], linewidth=1, label=name)
        axis.set_title(f"CO2 test period, {horizon}-week-ahead rolling forecasts")
        axis.set_ylabel("ppm")
        axis.legend(loc="upper left")
    axes[-1].set_xlabel("week index")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
