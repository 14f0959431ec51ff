"""The training loop: seeded, deterministic, any cell, early stopping at the best epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnn_serve.model.train import TrainConfig, train


def pairs(rng, windows: int, steps: int = 16):
    t = np.arange(windows + steps + 1)
    series = np.sin(t / 3) + 0.1 * rng.normal(size=len(t))
    rows = np.lib.stride_tricks.sliding_window_view(series, steps + 1).astype(np.float32)
    return rows[:, :-1, np.newaxis].copy(), rows[:, 1:, np.newaxis].copy()


@pytest.mark.parametrize(("cell", "layers"), [("rnn", 1), ("gru", 1), ("lstm", 2)])
def test_training_twice_gives_identical_weights(rng, cell, layers):
    fit, validation = pairs(rng, 128), pairs(rng, 32)
    config = TrainConfig(hidden_size=8, epochs=4, cell=cell, layers=layers)
    seen: list[tuple[int, float]] = []
    first, curve = train(config, fit, validation, lambda epoch, loss: seen.append((epoch, loss)))
    second, _ = train(config, fit, validation)
    assert first.config.cell == cell and first.config.layers == layers
    assert [epoch for epoch, _ in seen] == list(range(1, len(curve) + 1))
    assert min(curve) < curve[0]  # it learns
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_early_stopping_keeps_the_best_epoch(rng):
    fit, validation = pairs(rng, 64), pairs(rng, 16)
    config = TrainConfig(hidden_size=4, epochs=40, patience=2, learning_rate=0.2)
    net, curve = train(config, fit, validation)
    assert len(curve) < 40
    with torch.no_grad():
        outputs, _ = net(torch.from_numpy(validation[0]), net.zero_state(len(validation[0])))
    loss = float(torch.nn.functional.mse_loss(outputs, torch.from_numpy(validation[1])))
    assert loss == pytest.approx(min(curve), rel=1e-5)


def test_without_validation_every_epoch_runs_and_the_last_model_is_kept(rng):
    fit = pairs(rng, 64)
    config = TrainConfig(hidden_size=4, epochs=6, patience=1, learning_rate=0.2)
    net, curve = train(config, fit, None)
    assert len(curve) == 6  # no early stopping
    with torch.no_grad():
        outputs, _ = net(torch.from_numpy(fit[0]), net.zero_state(len(fit[0])))
    loss = float(torch.nn.functional.mse_loss(outputs, torch.from_numpy(fit[1])))
    assert loss == pytest.approx(curve[-1], rel=1e-5)  # the curve is the training loss
