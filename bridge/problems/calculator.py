"""``calculator``: learn a + b for a, b ∈ [0, 1] (the student project's "quantum calculator").

Model: ``Linear(2, 2)`` (input scaling) → 2-qubit ZZ feature map + RealAmplitudes (reps 2), read out as
⟨Z⊗Z⟩ → ``Linear(1, 1)``. Without the input scaling the circuit cannot fit a + b (test MAE stalled at
0.125 when measured); the RealAmplitudes weights start at 0 (see :class:`bridge.models.FashionHybridNet`).
Data: 1,000 training pairs drawn with ``--seed``; 500 test pairs from a fixed seed, the same for every run.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pennylane as qml
import torch
from torch import nn
from tqdm import tqdm

from bridge.circuits import zz_real_amplitudes
from bridge.models import quantum_or_classical
from bridge.plots import plot_loss, plot_regression
from bridge.problems.common import EpochCheckpoint, batch_devices, check_options, execution_totals, finish
from bridge.profiles import Profile
from bridge.train import TrainConfig

TRAIN_PAIRS = 1000
TEST_PAIRS = 500
TEST_SEED = 20_261_125
LEARNING_RATE = 0.03
LR_DECAY = 0.7  # learning rate × 0.7 after every epoch
TARGET_MAE = 0.03


class AdderNet(nn.Module):
    """``(batch, 2)`` pairs (a, b) → ``(batch, 1)`` estimates of a + b."""

    def __init__(self, profile: str | Profile | None = None, classical: bool = False) -> None:
        super().__init__()
        self.scale = nn.Linear(2, 2)
        self.quantum = quantum_or_classical(zz_real_amplitudes(2, 2), profile, classical, init_method=nn.init.zeros_)
        self.readout = nn.Linear(1, 1)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.quantum(self.scale(pairs)))


def pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs uniform on [0, 1]² ``(n, 2)`` and their sums ``(n, 1)``, from ``seed``."""
    x = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed))
    return x, x.sum(dim=1, keepdim=True)


def run(config: TrainConfig) -> dict[str, Any]:
    """Train on the profile and write metrics.json (test MAE), loss.png, predictions.png, checkpoint.pt."""
    out = check_options("calculator", config)
    x_train, y_train = pairs(TRAIN_PAIRS, config.seed)
    x_test, y_test = pairs(TEST_PAIRS, TEST_SEED)
    model = AdderNet(config.profile, config.classical)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=LR_DECAY)  # per epoch: resumable to any N
    modules = {"model": model, "optimizer": optimizer, "schedule": schedule}
    checkpoint = EpochCheckpoint(out, {"task": "calculator", "profile": config.profile.name, "seed": config.seed,
                                       "batch_size": config.batch_size, "classical": config.classical})
    epoch, history = 0, {"train_loss": []}
    if config.resume:
        epoch, history = checkpoint.restore(modules)
    with contextlib.ExitStack() as stack:
        trackers = [stack.enter_context(qml.Tracker(d)) for d in batch_devices(model)]
        while epoch < config.epochs:
            model.train()
            shuffle = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            order = torch.randperm(TRAIN_PAIRS, generator=shuffle)
            total = 0.0
            for start in tqdm(range(0, TRAIN_PAIRS, config.batch_size), desc=f"epoch {epoch + 1}/{config.epochs}",
                              unit="batch", disable=not config.progress, leave=False):
                index = order[start:start + config.batch_size]
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x_train[index]), y_train[index])
                loss.backward()
                optimizer.step()
                total += loss.item() * len(index)
            history["train_loss"].append(total / TRAIN_PAIRS)
            schedule.step()
            epoch += 1
            checkpoint.save(modules, epoch, history)
            if config.progress:
                tqdm.write(f"epoch {epoch}/{config.epochs}: mean squared error {history['train_loss'][-1]:.5f}")
        model.eval()
        with torch.no_grad():
            predicted = model(x_test)
    errors = (predicted - y_test).abs()
    mae = float(errors.mean())
    plot_loss(history["train_loss"], out / "loss.png", "calculator" + (", classical ablation" if config.classical
                                                                    else f" on {config.profile.name}"),
              ylabel="mean squared error")
    plot_regression(y_test.squeeze(1).tolist(), predicted.squeeze(1).tolist(), out / "predictions.png",
                    "a + b on 500 test pairs", "true a + b", "predicted")
    return finish(out, {
        "example": "calculator", "classical": config.classical, "profile": config.profile.name,
        "device": config.profile.device, "shots": config.profile.shots, "epochs": config.epochs,
        "batch_size": config.batch_size, "seed": config.seed, "train_pairs": TRAIN_PAIRS, "test_pairs": TEST_PAIRS,
        "train_loss": history["train_loss"], "test_mae": mae, "test_max_error": float(errors.max()),
        "target_mae": TARGET_MAE,
        "summary": f"test mean absolute error {mae:.4f} on {TEST_PAIRS} pairs (target <= {TARGET_MAE})",
        "seconds": round(checkpoint.seconds(), 3), "execution": execution_totals(trackers),
    })
