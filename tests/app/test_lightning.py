"""``examples/lightning_hybrid.py``: a QuantumLayer in a LightningModule, trained by ``lightning.Trainer`` in real
processes: the plain loop's losses, DDP on 2 CPU processes, Lightning's own checkpoint resumed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "lightning_hybrid.py"


def _train(out: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    epochs = args[args.index("--epochs") + 1] if "--epochs" in args else "1"
    return json.loads((out / f"weights-{epochs}.json").read_text())


def _worst(a: dict, b: dict) -> float:
    return max(float((torch.tensor(a[k]) - torch.tensor(b[k])).abs().max()) for k in a)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    return _train(tmp_path_factory.mktemp("one"))


def test_lightning_gives_the_plain_loop_s_losses(one_process):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from lightning_hybrid import HybridModule, loader
    finally:
        sys.path.remove(str(SCRIPT.parent))
    module = HybridModule()  # the same seed, profile and data as the script's one process
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    losses = []
    for images, labels in loader(8):
        optimizer.zero_grad()
        loss = torch.nn.functional.nll_loss(module(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert len(losses) == 4
    assert one_process["losses"] == pytest.approx(losses, abs=1e-6)


def test_ddp_on_two_processes_trains_the_weights_of_one_with_twice_the_batch(one_process, tmp_path):
    two = _train(tmp_path, "--devices", "2", "--batch-size", "4")
    assert _worst(one_process["weights"], two["weights"]) <= 1e-6


def test_a_run_resumed_from_lightning_s_checkpoint_ends_where_the_uninterrupted_one_does(tmp_path):
    whole = _train(tmp_path / "whole", "--epochs", "2")
    _train(tmp_path / "parts", "--epochs", "1")
    resumed = _train(tmp_path / "parts", "--epochs", "2", "--resume")
    assert len(resumed["losses"]) == 4  # the second epoch's steps only: the first came from the checkpoint
    assert resumed["losses"] == pytest.approx(whole["losses"][4:], abs=1e-6)
    assert _worst(whole["weights"], resumed["weights"]) <= 1e-6
