"""Training loop of the examples: progress bar, atomic checkpoints, resume, metrics and figures."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from bridge.checkpoints import load_checkpoint, save_checkpoint, write_json
from bridge.data import load_split
from bridge.plots import plot_loss, plot_predictions
from bridge.profiles import Profile
from bridge.tasks import ImageTask

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (the CLI's ``train`` options).

    Attributes:
        profile: the device profile of the quantum layer (shots and seed already applied).
        epochs: number of passes over the training set.
        seed: seed of weights, dropout and data order.
        batch_size: images per optimizer step.
        out: folder for ``metrics.json``, ``loss.png``, ``predictions.png`` and ``checkpoint.pt``.
        data_root: a dataset root in torchvision's layout, ``None`` for the embedded subset.
        resume: continue from ``out/checkpoint.pt``.
        progress: show a progress bar.
    """

    profile: Profile
    epochs: int
    seed: int = 0
    batch_size: int = 1
    out: Path = Path("runs/mnist01")
    data_root: Path | None = None
    resume: bool = False
    progress: bool = True


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (weights, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_task(task: ImageTask, config: TrainConfig) -> dict[str, Any]:
    """Train ``task`` and write its outputs into ``config.out``.

    Returns:
        The metrics written to ``metrics.json``: train loss and accuracy per epoch, test accuracy on
        the held-out images, seconds, and the run's settings.
    """
    started = time.perf_counter()
    seed_everything(config.seed)
    train_set = load_split(task.dataset, train=True, classes=task.classes, per_class=task.train_per_class,
                           root=config.data_root)
    test_set = load_split(task.dataset, train=False, classes=task.classes, per_class=task.test_per_class,
                          root=config.data_root)
    model = task.build_model(config.profile)
    optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": []}
    first_epoch = 0
    elapsed_before = 0.0
    if config.resume:
        state = load_checkpoint(out / CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        history = state["history"]
        first_epoch = state["epoch"]
        elapsed_before = state.get("seconds", 0.0)

    for epoch in range(first_epoch, config.epochs):
        loss, accuracy = _train_epoch(model, optimizer, train_set, config, epoch)
        history["train_loss"].append(loss)
        history["train_accuracy"].append(accuracy)
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "torch_rng": torch.get_rng_state(), "history": history, "epoch": epoch + 1,
                         "seconds": elapsed_before + time.perf_counter() - started,
                         "task": task.name, "profile": config.profile.name}, out / CHECKPOINT)

    accuracy, images, predicted, actual = evaluate(model, test_set, config.progress)
    seconds = elapsed_before + time.perf_counter() - started
    metrics = {
        "example": task.name, "profile": config.profile.name, "device": config.profile.device,
        "shots": config.profile.shots, "epochs": config.epochs, "batch_size": config.batch_size,
        "seed": config.seed, "train_images": len(train_set), "test_images": len(test_set),
        "train_loss": history["train_loss"], "train_accuracy": history["train_accuracy"],
        "test_accuracy": accuracy, "seconds": round(seconds, 3),
    }
    write_json(metrics, out / "metrics.json")
    plot_loss(history["train_loss"], out / "loss.png", f"{task.name} on {config.profile.name}")
    names = [str(c) for c in task.classes]
    shown = torch.linspace(0, len(actual) - 1, min(32, len(actual))).long().tolist()  # spread over classes
    plot_predictions(images[shown], [predicted[i] for i in shown], [actual[i] for i in shown], names,
                     out / "predictions.png")
    return metrics


def _train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_set: Any,
                 config: TrainConfig, epoch: int) -> tuple[float, float]:
    """One pass over ``train_set`` in an order fixed by ``(seed, epoch)``; returns (mean loss, accuracy)."""
    order = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=order)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=not config.progress,
               leave=False)
    for images, labels in bar:
        optimizer.zero_grad()
        log_probs = model(images)
        loss = F.nll_loss(log_probs, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        correct += int((log_probs.argmax(dim=1) == labels).sum())
        seen += len(labels)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    if config.progress:
        tqdm.write(f"epoch {epoch + 1}/{config.epochs}: loss {total_loss / seen:.4f}, "
                   f"train accuracy {correct / seen:.3f}")
    return total_loss / seen, correct / seen


@torch.no_grad()
def evaluate(model: torch.nn.Module, test_set: Any, progress: bool = True,
             batch_size: int = 50) -> tuple[float, torch.Tensor, list[int], list[int]]:
    """Accuracy on ``test_set`` in eval mode; also returns the images, predictions and labels."""
    model.eval()
    images, predicted, actual = [], [], []
    for batch, labels in tqdm(DataLoader(test_set, batch_size=batch_size), desc="test", unit="batch",
                              disable=not progress, leave=False):
        predicted.extend(model(batch).argmax(dim=1).tolist())
        actual.extend(labels.tolist())
        images.append(batch)
    accuracy = sum(p == a for p, a in zip(predicted, actual, strict=True)) / len(actual)
    return accuracy, torch.cat(images), predicted, actual
