"""``bridge.app.fit``: a user's own model (a plain QNode in a plain CNN, ``examples/own_model.py``) through the
examples' loop: it learns, its jobs are counted, an interrupted run resumes to the uninterrupted one."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bridge.app import fit
from bridge.exceptions import BridgeError

EXAMPLE = Path(__file__).parents[2] / "examples" / "own_model.py"


@pytest.fixture(scope="module")
def own_model():
    spec = importlib.util.spec_from_file_location("own_model_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_the_example_learns_and_counts_its_jobs(own_model, tmp_path):
    """200 images, batch 8, 2 epochs: 50 steps of one job each (the loop's one job per step) and the test set's
    200 images in 4 batches of 50; an untrained model is at 0.5."""
    metrics = own_model.main(str(tmp_path), epochs=2)
    assert metrics["test_accuracy"] >= 0.95, metrics["summary"]
    assert metrics["execution"]["primitive_jobs"] == 50 + 4
    assert metrics["train_samples"] == 200 and metrics["device"] == "bridge.qiskit" and metrics["shots"] is None
    assert {p.name for p in tmp_path.iterdir()} >= {"metrics.json", "loss.png", "checkpoint.pt"}


def test_a_resumed_run_ends_where_the_uninterrupted_one_does(own_model, tmp_path):
    from bridge.app.data import load_split

    train = load_split("MNIST", train=True, classes=(0, 1), per_class=24)

    def run(out: Path, epochs: int, resume: bool = False) -> dict:
        torch.manual_seed(0)  # the same initial weights: the user builds the model, the run resumes its state
        model = own_model.SmallHybrid()
        return fit(model, train, epochs=epochs, batch_size=8, lr=0.01, out=out, resume=resume, progress=False)

    whole = run(tmp_path / "whole", 2)
    run(tmp_path / "parts", 1)
    resumed = run(tmp_path / "parts", 2, resume=True)
    assert resumed["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-9, abs=1e-12)
    assert resumed["execution"] == whole["execution"]
    weights = [
        torch.load(tmp_path / d / "checkpoint.pt", weights_only=True)["modules"]["model"] for d in ("whole", "parts")
    ]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert json.loads((tmp_path / "parts" / "metrics.json").read_text())["epochs"] == 2


def test_bad_input_is_an_error_naming_it(own_model, tmp_path):
    with pytest.raises(BridgeError, match="train_data is empty"):
        fit(own_model.SmallHybrid("default"), [], out=tmp_path / "a")
    with pytest.raises(BridgeError, match="unknown tracking 'wandb'"):
        fit(own_model.SmallHybrid("default"), [(torch.zeros(1, 28, 28), 0)], tracking=["wandb"], out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_example_trains_under_torchrun_on_two_ranks(tmp_path):
    """``torchrun --nproc-per-node 2 examples/own_model.py OUT``: a real two-process run of a user's model through
    ``fit``; rank 0 alone writes, the jobs of both ranks are summed, and it still learns."""
    out = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*torchrun, str(EXAMPLE), str(out)], capture_output=True, text=True, timeout=600, cwd=EXAMPLE.parents[1]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["train_samples"] == 200
    assert metrics["test_accuracy"] >= 0.95, metrics["summary"]
    # each rank: 13 steps of 8 of its 100 images per epoch, 2 epochs, one job a step; one test pass of 200 on rank 0
    per_rank = [r["primitive_jobs"] for r in metrics["execution_per_rank"]]
    assert sum(per_rank) == metrics["execution"]["primitive_jobs"] and min(per_rank) >= 2 * 13
    assert done.stdout.count(metrics["summary"]) == 1  # printed by rank 0 alone
