"""Nothing is lost: a killed or interrupted run resumes to the same result; failing backends are retried
or stop the run with the job's error and an intact checkpoint; the same seed gives the same metrics."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

from bridge import backends
from bridge.app.checkpoints import load_checkpoint
from bridge.app.train import CHECKPOINT, TrainConfig, train_task
from bridge.exceptions import ExecutionError
from bridge.profiles import load_profile

from support.runs import small_task as _small

COMPARED = ("train_loss", "train_accuracy", "test_accuracy")


class FlakyAer(AerSimulator):
    """A real ``AerSimulator`` whose chosen calls of ``run`` (numbered from 0) return a job that fails.

    A failing call runs a 50-qubit state vector instead, which Aer refuses ("Insufficient memory"): a
    real failed job with a real job id, as a simulator or a device that drops a job returns one.
    """

    def __init__(self, fails) -> None:
        super().__init__(method="statevector")
        self.fails = fails
        self.calls = 0

    def run(self, circuits, **options):
        call, self.calls = self.calls, self.calls + 1
        if self.fails(call):
            impossible = QuantumCircuit(50)
            impossible.h(range(50))
            impossible.save_statevector()
            return super().run([impossible])
        return super().run(circuits, **options)


def _config(tmp_path, profile="aer", **kw):
    prof = load_profile(profile)
    prof = dataclasses.replace(prof, qiskit=dataclasses.replace(prof.qiskit, retries=2, retry_backoff=0.0))
    options = {"epochs": 2, "seed": 4, "batch_size": 2, "progress": False} | kw
    return TrainConfig(profile=prof, out=tmp_path, **options)


def _same(a, b):
    return {k: a[k] for k in COMPARED} == {k: b[k] for k in COMPARED}


def test_transient_job_failures_are_retried_and_the_run_matches_a_clean_one(tmp_path, monkeypatch):
    clean = train_task(_small(), _config(tmp_path / "clean"))
    flaky = FlakyAer(lambda call: call in (0, 3, 4, 9))  # 4 and 9: twice in a row, then a retry succeeds
    monkeypatch.setattr(backends, "qiskit_backend", lambda prof, wires: flaky)
    retried = train_task(_small(), _config(tmp_path / "flaky"))
    assert _same(clean, retried)
    assert flaky.calls > 4


def test_a_backend_that_keeps_failing_stops_with_the_job_error_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    # 3 steps per epoch, 1 job per step: calls 0-2 are epoch 1; every call from 4 on (epoch 2's second) fails
    flaky = FlakyAer(lambda call: call >= 4)
    monkeypatch.setattr(backends, "qiskit_backend", lambda prof, wires: flaky)
    with pytest.raises(
        ExecutionError,
        match=r"bridge.qiskit job on aer_simulator\S* \S+ failed after 3 attempt\(s\): "
        r"JobError: .*Insufficient memory",
    ):
        train_task(_small(), _config(tmp_path, epochs=3))
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert state["progress"]["epoch"] == 1 and state["progress"]["step"] == 0
    assert len(state["history"]["train_loss"]) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("profile", ["aer", "aer-shots"])
def test_the_same_seed_gives_the_same_metrics(tmp_path, profile):
    first = train_task(_small(), _config(tmp_path / "a", profile))
    second = train_task(_small(), _config(tmp_path / "b", profile))
    other = train_task(_small(), _config(tmp_path / "c", profile, seed=5))
    assert _same(first, second)
    assert first["train_loss"] != other["train_loss"]


def test_resume_on_a_shot_based_profile_restores_the_sampler(tmp_path):
    """The device's sampling seeds continue where they stopped, so shots resume to the same result."""
    full = train_task(_small(), _config(tmp_path / "full", "aer-shots", epochs=2))
    train_task(_small(), _config(tmp_path / "part", "aer-shots", epochs=1))
    resumed = train_task(_small(), _config(tmp_path / "part", "aer-shots", epochs=2, resume=True))
    assert _same(full, resumed)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    train_task(_small(), _config(tmp_path, "default", epochs=1))
    with pytest.raises(Exception, match=r"written by another run: seed 4 \(now 9\)"):
        train_task(_small(), _config(tmp_path, "default", epochs=2, seed=9, resume=True))


# ------------------------------------------------------------------ a real process, killed or interrupted
def _cli(out, *extra):
    return [
        sys.executable,
        "-m",
        "bridge",
        "train",
        "mnist01",
        "--device",
        "default",
        "--epochs",
        "3",
        "--seed",
        "2",
        "--batch-size",
        "2",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


def _checkpoint_progress(path):
    """The checkpoint's progress, or None before the first one; loading must never fail (atomic writes)."""
    if not path.exists():
        return None
    return load_checkpoint(path)["progress"]


def _run_until(out, stop, sig, *extra):
    """Start a training process, send ``sig`` once ``stop(progress)`` holds.

    Returns:
        The exit code, the process's stderr, and how many times a checkpoint was read while it ran.
    """
    process = subprocess.Popen(_cli(out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            progress = _checkpoint_progress(out / CHECKPOINT)
            reads += progress is not None
            if progress is not None and stop(progress):
                process.send_signal(sig)
                break
            time.sleep(0.01)
        _, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stderr, reads


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    result = subprocess.run(_cli(out), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "metrics.json").read_text())


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    code, _, reads = _run_until(
        tmp_path, lambda p: p["epoch"] == 1 and p["step"] >= 10, signal.SIGKILL, "--checkpoint-every", "5"
    )
    assert code == -signal.SIGKILL and reads > 0
    progress = _checkpoint_progress(tmp_path / CHECKPOINT)  # whole: torch.load succeeds
    assert progress["epoch"] == 1 and progress["step"] >= 10 and not (tmp_path / "metrics.json").exists()
    for stale in tmp_path.glob(".checkpoint.pt.*.tmp"):  # a write cut short leaves only its temporary file
        stale.unlink()
    resumed = subprocess.run(_cli(tmp_path, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert _same(json.loads((tmp_path / "metrics.json").read_text()), uninterrupted)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_ctrl_c_saves_a_mid_epoch_checkpoint_and_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    # no periodic checkpoints: the one after epoch 1 exists, then Ctrl-C lands in epoch 2
    code, stderr, _ = _run_until(tmp_path, lambda p: p["epoch"] == 1, signal.SIGINT)
    assert code == 130, stderr
    assert "holds the run up to its last save (continue with --resume)" in stderr and "Traceback" not in stderr
    progress = _checkpoint_progress(tmp_path / CHECKPOINT)
    assert progress["epoch"] >= 1 and (progress["epoch"], progress["step"]) != (1, 0)  # saved at the interrupt
    resumed = subprocess.run(_cli(tmp_path, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert _same(json.loads((tmp_path / "metrics.json").read_text()), uninterrupted)


def test_failing_backend_exits_1_from_the_cli_with_the_job_error(tmp_path):
    """The whole path through the command line: no traceback, the job's error, exit code 1."""
    script = (
        "import sys, dataclasses\n"
        "sys.path.insert(0, {tests!r})\n"
        "from app.test_robustness import FlakyAer\n"
        "from bridge import backends\n"
        "from bridge.app import cli\n"
        "backends.qiskit_backend = lambda prof, wires: FlakyAer(lambda call: call >= 3)\n"
        "sys.exit(cli.main(['train', 'mnist01', '--device', {profile!r}, '--epochs', '1', '--out', {out!r},"
        " '--no-progress']))\n"
    )
    profile = tmp_path / "fast-retry.toml"
    profile.write_text(
        'description = "aer, fast retries"\ndevice = "bridge.qiskit"\ndiff_method = "device"\n'
        "[qiskit]\nretries = 1\nretry_backoff = 0.0\n"
    )
    code = script.format(
        tests=os.path.dirname(os.path.dirname(__file__)), profile=str(profile), out=str(tmp_path / "o")
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    # the third job fails, in the first epoch: before the first checkpoint, and the message says so
    assert "failed after 2 attempt(s)" in result.stderr and "No checkpoint was written yet" in result.stderr
    assert "The last checkpoint" not in result.stderr and "Traceback" not in result.stderr
