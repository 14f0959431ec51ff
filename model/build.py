"""Rebuilds the seed's demo model: ``python -m rnn_serve.model.build`` (part of ``make train``).

The seed's own configuration, features 3 and hidden 7 with no projection, with seeded random
weights: the model the seed's (6, 5, 3) example runs on. The co2 forecaster next to it comes
from ``rnn-serve train`` (see the Makefile).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnn_serve.contract.manifest import Manifest
from rnn_serve.model.convert import Target, from_state_dict, save
from rnn_serve.model.network import RecurrentNet, RNNConfig
from rnn_serve.model.train import seed_everything

ARTIFACTS = Path("model/artifacts")
COMMAND = "make train  # python -m rnn_serve.model.build"


def build_seed_demo(out: Path) -> Manifest:
    seed_everything(seed=7, threads=1)
    net = RecurrentNet(RNNConfig(features=3, hidden_size=7))
    target = Target(
        "seed-demo", out, "1", command=COMMAND, training={"data": "none: seeded random weights"}
    )
    return save(target, from_state_dict(net.state_dict()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ARTIFACTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_seed_demo(args.out)


if __name__ == "__main__":
    main()
