"""Seeded, deterministic CPU training with early stopping on validation loss."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray

from rnn_serve.model.network import RecurrentNet, RNNConfig


@dataclass(frozen=True)
class TrainConfig:
    hidden_size: int = 32
    cell: Literal["rnn", "gru", "lstm"] = "rnn"
    layers: int = 1
    steps: int = 104  # two seasons of weekly differences
    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 2e-3
    patience: int = 30
    seed: int = 0
    threads: int = 2
    # Keeps ||h_w||_2 below this bound, so the Elman recurrence is a contraction (tanh' <= 1)
    # and float32 rounding decays over long sequences instead of compounding. (A GRU's or
    # LSTM's gates bound their state by construction: no penalty for them.)
    max_recurrent_norm: float = 0.95
    norm_penalty: float = 1.0


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def train(
    config: TrainConfig,
    fit: tuple[NDArray[np.float32], NDArray[np.float32]],
    validation: tuple[NDArray[np.float32], NDArray[np.float32]] | None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[RecurrentNet, list[float]]:
    """Next-step regression on every step of every window; returns the best model by
    validation loss and the validation curve. Without validation pairs it trains every epoch
    and returns the last model, with the curve of its training loss. ``on_epoch(epoch,
    loss)`` reports progress."""
    seed_everything(config.seed, config.threads)
    features = fit[0].shape[-1]
    net = RecurrentNet(
        RNNConfig(
            features,
            config.hidden_size,
            output_size=features,
            cell=config.cell,
            layers=config.layers,
        )
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    x_fit, y_fit = map(torch.from_numpy, fit)
    x_val, y_val = map(torch.from_numpy, validation or fit)
    order = torch.Generator().manual_seed(config.seed)
    best, best_loss, curve, stale = copy.deepcopy(net.state_dict()), float("inf"), [], 0
    for _ in range(config.epochs):
        net.train()
        for batch in torch.randperm(len(x_fit), generator=order).split(config.batch_size):
            optimiser.zero_grad()
            loss = _loss(net, x_fit[batch], y_fit[batch])
            if config.cell == "rnn":
                excess = _excess_norm(net, config.max_recurrent_norm)
                loss = loss + config.norm_penalty * excess
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
        with torch.no_grad():
            net.eval()
            curve.append(float(_loss(net, x_val, y_val)))
        if on_epoch is not None:
            on_epoch(len(curve), curve[-1])
        if validation is None:
            continue
        if curve[-1] < best_loss:
            best, best_loss, stale = copy.deepcopy(net.state_dict()), curve[-1], 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    if validation is not None:
        net.load_state_dict(best)
    return net.eval(), curve


def _loss(net: RecurrentNet, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    outputs, _ = net(inputs, net.zero_state(len(inputs)))
    return torch.nn.functional.mse_loss(outputs, targets)


def _excess_norm(net: RecurrentNet, bound: float) -> torch.Tensor:
    norm = torch.linalg.matrix_norm(net.cell.weight_hh_l0, ord=2)
    return torch.relu(norm - bound) ** 2
