"""`python -m bench.compare REV`: this working tree's server against revision REV's, same machine,
same moment. The two servers take turns, ``--rounds`` times, so that a machine whose speed
drifts (these ones do, by several times in an hour) slows both alike; the best of each is kept
and the ratio printed. For checking that a change kept the speed: `make bench` compares against
baselines, this against the code before the change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.load import OURS, OURS_ENV, PORT, ROOT, Result, server, wrk
from bench.payloads import (
    FORECAST_BODY,
    FORECAST_PATH,
    Payload,
    infer_path,
    json_body,
    payloads,
    predict_path,
)
from bench.sequences import PATH as SEQUENCE_PATH
from bench.sequences import redis_server

Case = tuple[str, str, Callable[[Payload], tuple[str, bytes, dict[str, str]]]]
CASES: list[Case] = [
    ("v1 json", "small", lambda p: (predict_path(p), *json_body(p))),
    ("v1 json", "large", lambda p: (predict_path(p), *json_body(p))),
    ("v2 binary", "large", lambda p: (infer_path(p), *p.v2_binary())),
    ("v1 json", "seed", lambda p: (predict_path(p), *json_body(p))),
]


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """``revision`` in a temporary git worktree, removed afterwards."""
    with tempfile.TemporaryDirectory() as parent:
        tree = Path(parent) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "-q", "--detach", str(tree), revision], check=True
        )
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True)


def measure(tree: Path, seconds: float, connections: int, redis_url: str) -> dict[str, Result]:
    """Every case against the server of ``tree`` (its own code, this virtual environment),
    the small request again with the access log on, as it is by default, and steps of 1,000
    live sequences held in Redis."""
    loads = {payload.name: payload for payload in payloads()}
    results = {}
    env = OURS_ENV | {"PYTHONPATH": str(tree)}
    command = OURS if (tree / "rnn_serve").is_dir() else [*OURS[:2], "service", *OURS[3:]]
    with server(command, PORT, env, "/v2/health/ready", cwd=tree) as running:
        for label, name, request in CASES:
            path, body, headers = request(loads[name])
            results[f"{label} {loads[name].label}"] = wrk(
                running, path, body, headers, connections, seconds
            )
        results["v1 forecast 120 values, h=12"] = wrk(
            running, FORECAST_PATH, FORECAST_BODY, {}, connections, seconds
        )
    logging = env | {"RNN_SERVE_LOG_LEVEL": "info"}
    with server(command, PORT, logging, "/v2/health/ready", cwd=tree) as running:
        path, body, headers = CASES[0][2](loads["small"])
        results["v1 small, access log on"] = wrk(running, path, body, headers, connections, seconds)
    in_redis = env | {"RNN_SERVE_STATE_URL": redis_url}
    with server(command, PORT, in_redis, "/v2/health/ready", cwd=tree) as running:
        stepped = {"SEQUENCES": "1000"}
        wrk(running, SEQUENCE_PATH, b"", {}, connections, 1, "sequence.lua", stepped)  # started
        results["sequence step, Redis"] = wrk(
            running, SEQUENCE_PATH, b"", {}, connections, seconds, "sequence.lua", stepped
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision", help="the revision to compare with, e.g. HEAD~3 or main")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    best: dict[tuple[str, str], float] = {}
    rounds: dict[tuple[str, str], list[float]] = {}
    with checkout(args.revision) as before, redis_server(PORT + 2) as redis_url:
        for round_ in range(args.rounds):
            for side, tree in (("before", before), ("after", ROOT)):
                found = measure(tree, args.seconds, args.connections, redis_url)
                for case, result in found.items():
                    key = (side, case)
                    best[key] = max(best.get(key, 0.0), result.requests_per_s)
                    rounds.setdefault(key, []).append(result.requests_per_s)
                    rate = result.requests_per_s
                    print(f"round {round_ + 1} {side:>6} {case:<26} {rate:9.0f} req/s")
    print(f"\nc={args.connections}, best of {args.rounds} rounds, req/s:")
    print(
        f"| case | {args.revision} | this tree | ratio | median of the rounds' ratios |\n"
        "| --- | ---: | ---: | ---: | ---: |"
    )
    for case in dict.fromkeys(case for _, case in best):
        before_rps, after_rps = best[("before", case)], best[("after", case)]
        # each round's pair ran minutes apart at most: their ratio drifts less than the best's
        paired = statistics.median(
            after / before
            for before, after in zip(rounds[("before", case)], rounds[("after", case)], strict=True)
        )
        print(
            f"| {case} | {before_rps:,.0f} | {after_rps:,.0f} | {after_rps / before_rps:.2f} "
            f"| {paired:.2f} |"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
