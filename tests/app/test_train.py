"""Real training runs: the main job's quality, outputs, resume, and short runs on Aer and a fake IBM backend."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bridge.app.cli import main
from bridge.app.registry import get_task
from bridge.app.train import TrainConfig, train_task
from bridge.profiles import load_profile

from support.runs import metrics as _metrics
from support.runs import small_task as _small

OUTPUTS = {"metrics.json", "loss.png", "predictions.png", "checkpoint.pt"}


def test_main_job_defaults_reach_the_target_on_default_qubit(tmp_path):
    """`qml-bridge train mnist01` with its default epochs, batch size and seed, on the exact default.qubit."""
    assert main(["train", "mnist01", "--device", "default", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = _metrics(tmp_path)
    assert OUTPUTS <= {p.name for p in tmp_path.iterdir()}
    assert metrics["test_images"] == 200 and metrics["train_images"] == 200
    assert metrics["epochs"] == get_task("mnist01").epochs == len(metrics["train_loss"])
    assert metrics["test_accuracy"] >= 0.99
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]


def test_resume_continues_to_the_same_result(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    common = ["--device", "default", "--no-progress", "--seed", "3"]
    assert main(["train", "mnist01", "--epochs", "2", "--out", str(full), *common]) == 0
    assert main(["train", "mnist01", "--epochs", "1", "--out", str(part), *common]) == 0
    assert main(["train", "mnist01", "--epochs", "2", "--out", str(part), "--resume", *common]) == 0
    a, b = _metrics(full), _metrics(part)
    assert a["train_loss"] == b["train_loss"] and a["test_accuracy"] == b["test_accuracy"]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "mnist01", "--device", "default", "--out", str(tmp_path), "--resume"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_short_training_on_aer_follows_default_qubit_exactly(tmp_path):
    """Both profiles are exact, so the same seed must give the same training trajectory."""
    task = _small(per_class=6)
    runs = {}
    for name in ("default", "aer"):
        config = TrainConfig(
            profile=load_profile(name), epochs=1, seed=5, batch_size=2, out=tmp_path / name, progress=False
        )
        runs[name] = train_task(task, config)
    assert runs["aer"]["train_loss"] == pytest.approx(runs["default"]["train_loss"], abs=1e-6)
    assert runs["aer"]["test_accuracy"] == runs["default"]["test_accuracy"]


def test_short_training_on_a_fake_ibm_backend(tmp_path):
    task = _small(per_class=3)
    config = TrainConfig(
        profile=load_profile("aer-noisy"), epochs=1, seed=0, batch_size=3, out=tmp_path, progress=False
    )
    metrics = train_task(task, config)
    assert metrics["device"] == "bridge.qiskit" and metrics["shots"] == 1024
    assert OUTPUTS <= {p.name for p in tmp_path.iterdir()}
    assert all(torch.isfinite(torch.tensor(metrics["train_loss"])))


@pytest.mark.parametrize("profile", ["aer", "aer-shots"])
def test_main_job_defaults_reach_the_target_on_aer(tmp_path, profile):
    """The main job as the README runs it (default epochs, batch size and seed) on the Aer profiles."""
    assert main(["train", "mnist01", "--device", profile, "--out", str(tmp_path), "--no-progress"]) == 0
    assert _metrics(tmp_path)["test_accuracy"] >= 0.99


@pytest.mark.parametrize("classical", [False, True], ids=["hybrid", "classical"])
@pytest.mark.parametrize("name", ["mnist37", "mnist3", "mnist10", "fashion"])
def test_each_image_example_trains_briefly_and_writes_its_files(tmp_path, name, classical):
    task = dataclasses.replace(get_task(name), train_per_class=4, test_per_class=4)
    config = TrainConfig(
        profile=load_profile("aer"), epochs=1, seed=0, batch_size=4, out=tmp_path, progress=False, classical=classical
    )
    metrics = train_task(task, config)
    assert OUTPUTS <= {p.name for p in tmp_path.iterdir()}
    assert metrics["classical"] is classical and metrics["test_images"] == 4 * len(task.classes)
    assert (metrics["execution"] is None) == classical  # the ablation runs no circuit
    model = task.build_model(config.profile, classical)
    assert any(type(m).__name__ == ("ClassicalStandIn" if classical else "QuantumLayer") for m in model.modules())
