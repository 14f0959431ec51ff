"""The rnn-serve command: its subcommands, and what it says when the train extra is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from tests.model.convert.sources import TorchForecaster

RNN_SERVE = str(Path(sys.executable).with_name("rnn-serve"))


def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code, *args] if code else [RNN_SERVE, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_command_lists_its_subcommands_and_needs_one():
    assert {"serve", "convert", "train"} <= set(run("--help").stdout.split())
    missing = run()
    assert missing.returncode == 2 and "required: COMMAND" in missing.stderr
    assert {"--host", "--port", "--model-dir"} <= set(run("serve", "--help").stdout.split())
    missing_dir = run("serve", "--model-dir", "/no/such/folder")
    assert missing_dir.returncode == 2
    assert "--model-dir: /no/such/folder is not a directory" in missing_dir.stderr


def test_convert_without_the_train_extra_says_how_to_get_it(tmp_path):
    """As on an install with the runtime only: torch cannot be imported."""
    source = tmp_path / "lstm.pt"
    torch.save(TorchForecaster("lstm", 1, head=False).state_dict(), source)
    without_torch = (
        "import sys; sys.modules['torch'] = None; from cli import main; sys.exit(main())"
    )
    done = run(
        "convert", str(source), "--name", "x", "--out", str(tmp_path / "out"), code=without_torch
    )
    assert done.returncode == 1
    assert "torch is not installed; convert needs the train extra" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_name_the_api_cannot_route_is_refused(tmp_path):
    done = run("convert", str(tmp_path / "x.pt"), "--name", "my model/1")
    assert done.returncode == 2 and "--name 'my model/1'" in done.stderr


def test_train_refuses_what_it_cannot_train_on_naming_it(tmp_path, capsys):
    from rnn_serve.cli import main

    data = tmp_path / "sales.csv"
    data.write_text("day,store,units\n" + "".join(f"2024-01-{d:02},a,{d}\n" for d in range(1, 29)))
    common = ["train", str(data), "--name", "sales", "--out", str(tmp_path / "out")]
    units = ["--value-column", "units"]
    cases = {
        "no value column 'sold'; its columns are ['day', 'store', 'units']": [
            "--value-column", "sold"
        ],
        "series too short: 'a' has 28": [*units, "--time-column", "day", "--id-column", "store"],
        "--levels '80,x': percentages such as 80,95": [*units, "--levels", "80,x"],
        "--levels '0,95': each between 1 and 99": [*units, "--levels", "0,95"],
        "--horizon 0: at least 1": [*units, "--horizon", "0"],
        "--budget-s 0.0: more than 0": [*units, "--budget-s", "0"],
    }  # fmt: skip
    for message, options in cases.items():
        assert main([*common, *options]) == 2, message
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written
