"""The command line as a user runs it: listings, exit codes, messages without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bridge.app.cli import main
from bridge.profiles import builtin_names


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        timeout=300,
    )


def test_devices_lists_every_profile_with_its_description(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name in builtin_names():
        assert name in out
    assert "exact" in out and "1024 shots" in out


def test_devices_json(capsys):
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(builtin_names())


def test_ibm_without_credentials_exits_2_with_the_message_and_no_traceback(no_ibm_credentials, tmp_path):
    env = os.environ.copy()
    result = _run("train", "mnist01", "--device", "ibm", "--epochs", "1", "--out", str(tmp_path / "o"), env=env)
    assert result.returncode == 2
    assert "No IBM Quantum credentials found" in result.stderr and "QISKIT_IBM_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_unknown_profile_exits_2_listing_known_ones():
    result = _run("train", "mnist01", "--device", "nope")
    assert result.returncode == 2 and "known profiles: aer" in result.stderr and "Traceback" not in result.stderr


def test_environment_variable_selects_the_profile_for_the_cli(monkeypatch, capsys):
    monkeypatch.setenv("BRIDGE_DEVICE", "nope-from-env")
    assert main(["train", "mnist01"]) == 2
    assert "unknown device profile 'nope-from-env'" in capsys.readouterr().err


@pytest.mark.parametrize("shots", ["0", "-3", "1.5", "many"])
def test_bad_shots_are_rejected_by_the_parser(shots):
    result = _run("train", "mnist01", "--shots", shots)
    assert result.returncode == 2 and "shots must be a positive integer or 'exact'" in result.stderr


def test_exact_shots_on_a_sampling_only_profile(capsys):
    assert main(["train", "mnist01", "--device", "aer-noisy", "--shots", "exact"]) == 2
    assert "exact expectation values need the ideal Aer simulator" in capsys.readouterr().err


def test_train_help_groups_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    sections = [line.rstrip(":") for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert sections == ["positional arguments", "options", "run", "data", "device", "output", "tracking", "preview"]
    assert text.index("--tracking {csv,tensorboard,mlflow}\n", text.index("\ntracking:")) > 0
