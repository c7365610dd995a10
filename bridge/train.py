"""Training loop of the examples: progress bar, atomic checkpoints, resume, metrics and figures."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pennylane as qml
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from bridge.checkpoints import load_checkpoint, save_checkpoint, write_json
from bridge.data import load_split
from bridge.exceptions import BridgeError
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
        data_root: a dataset root in torchvision's layout, ``None`` for the embedded subset. With a root, the
            test set is every test image of the task's classes (2,000 for Fashion-MNIST's two classes).
        resume: continue from ``out/checkpoint.pt``.
        progress: show a progress bar.
        checkpoint_every: also write a checkpoint every this many optimizer steps (0: after each epoch
            and on interrupt only).
        classical: replace the quantum layer by a classical layer of the same shapes (the ablation).
    """

    profile: Profile
    epochs: int
    seed: int = 0
    batch_size: int = 1
    out: Path = Path("runs/mnist01")
    data_root: Path | None = None
    resume: bool = False
    progress: bool = True
    checkpoint_every: int = 0
    classical: bool = False


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (weights, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Progress:
    """Where a run stands: finished epochs, optimizer steps into the current epoch and its running sums."""

    epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0


class DeferredInterrupt:
    """Ctrl-C (SIGINT) or SIGTERM during a training step is held until the step ends.

    The loop then saves a checkpoint and raises ``KeyboardInterrupt``, so the checkpoint never holds a
    half-applied optimizer step. A second signal interrupts at once (the last checkpoint stays valid).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> DeferredInterrupt:
        self.requested = False
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("interrupted: finishing this step, then saving a checkpoint (interrupt again to stop at once)")

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def quantum_devices(model: torch.nn.Module) -> list[Any]:
    """The PennyLane devices of the model's quantum layers, in module order."""
    from bridge.layers import QuantumLayer

    return [m.qlayer.qnode.device for m in model.modules() if isinstance(m, QuantumLayer)]


def batch_devices(model: torch.nn.Module) -> list[Any]:
    """The model's ``bridge.qiskit`` devices: those whose primitive jobs are counted and previewed."""
    from bridge.qiskit_device import QiskitBatchDevice

    return [d for d in quantum_devices(model) if isinstance(d, QiskitBatchDevice)]


def execution_totals(trackers: list[Any]) -> dict[str, int] | None:
    """Primitive jobs, PUB rows and circuit shots counted by ``qml.Tracker`` on ``bridge.qiskit`` devices
    (``None`` without such a device)."""
    if not trackers:
        return None
    return {k: sum(int(t.totals.get(k, 0)) for t in trackers) for k in ("primitive_jobs", "pub_rows", "circuit_shots")}


def _device_rng_states(model: torch.nn.Module) -> list[Any]:
    return [getattr(d, "rng_state", None) for d in quantum_devices(model)]


def _restore_device_rngs(model: torch.nn.Module, states: list[Any]) -> None:
    for device, state in zip(quantum_devices(model), states, strict=False):
        if state is not None and hasattr(device, "rng_state"):
            device.rng_state = state


def load_test_split(task: ImageTask, data_root: Path | None) -> Any:
    """The task's test images: ``task.test_per_class`` per class of the embedded subset, or every test image
    of its classes under a dataset root (a user's full dataset is tested in full)."""
    return load_split(task.dataset, train=False, classes=task.classes,
                      per_class=task.test_per_class if data_root is None else None, root=data_root)


def train_task(task: ImageTask, config: TrainConfig) -> dict[str, Any]:
    """Train ``task`` and write its outputs into ``config.out``.

    A checkpoint (model, optimizer, torch and device RNG states, progress, losses so far) is written
    atomically after every epoch, every ``config.checkpoint_every`` steps, and when the run is
    interrupted (Ctrl-C, SIGTERM); ``config.resume`` continues from it to the same result as an
    uninterrupted run with the same options.

    Returns:
        The metrics written to ``metrics.json``: train loss and accuracy per epoch, test accuracy on
        the held-out images, seconds, and the run's settings.

    Raises:
        BridgeError: ``resume`` without a readable checkpoint, or one written by a different run.
        KeyboardInterrupt: after saving a checkpoint, when interrupted.
    """
    started = time.perf_counter()
    seed_everything(config.seed)
    train_set = load_split(task.dataset, train=True, classes=task.classes, per_class=task.train_per_class,
                           root=config.data_root)
    test_set = load_test_split(task, config.data_root)
    model = task.build_model(config.profile, config.classical)
    optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": []}
    progress = Progress()
    elapsed_before = 0.0
    run_id = {"task": task.name, "profile": config.profile.name, "seed": config.seed,
              "batch_size": config.batch_size, "classical": config.classical}
    if config.resume:
        state = load_checkpoint(out / CHECKPOINT)
        _check_same_run(state, run_id, out / CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        _restore_device_rngs(model, state.get("device_rngs", []))
        history = state["history"]
        progress = Progress(**state.get("progress", {"epoch": state["epoch"]}))
        elapsed_before = state.get("seconds", 0.0)

    def save() -> None:
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "torch_rng": torch.get_rng_state(), "device_rngs": _device_rng_states(model),
                         "history": history, "epoch": progress.epoch, "progress": dataclasses.asdict(progress),
                         "seconds": elapsed_before + time.perf_counter() - started, **run_id}, out / CHECKPOINT)

    with contextlib.ExitStack() as stack:
        trackers = [stack.enter_context(qml.Tracker(d)) for d in batch_devices(model)]
        with DeferredInterrupt() as interrupt:
            while progress.epoch < config.epochs:
                _train_epoch(model, optimizer, train_set, config, progress, save, interrupt)
                history["train_loss"].append(progress.loss_sum / progress.seen)
                history["train_accuracy"].append(progress.correct / progress.seen)
                progress = Progress(epoch=progress.epoch + 1)
                save()
        accuracy, images, predicted, actual = evaluate(model, test_set, config.progress)
    execution = execution_totals(trackers)
    seconds = elapsed_before + time.perf_counter() - started
    metrics = {
        "example": task.name, "classical": config.classical,
        "profile": config.profile.name, "device": config.profile.device,
        "shots": config.profile.shots, "epochs": config.epochs, "batch_size": config.batch_size,
        "seed": config.seed, "train_images": len(train_set), "test_images": len(test_set),
        "train_loss": history["train_loss"], "train_accuracy": history["train_accuracy"],
        "test_accuracy": accuracy, "seconds": round(seconds, 3),
        "execution": execution,  # bridge.qiskit's primitive jobs, circuits and shots in this process
    }
    write_json(metrics, out / "metrics.json")
    title = f"{task.name}, classical ablation" if config.classical else f"{task.name} on {config.profile.name}"
    plot_loss(history["train_loss"], out / "loss.png", title)
    names = [str(c) for c in task.classes]
    shown = torch.linspace(0, len(actual) - 1, min(32, len(actual))).long().tolist()  # spread over classes
    plot_predictions(images[shown], [predicted[i] for i in shown], [actual[i] for i in shown], names,
                     out / "predictions.png")
    return metrics


def _check_same_run(state: dict[str, Any], run_id: dict[str, Any], path: Path) -> None:
    """A checkpoint resumes only the run that wrote it (same task, profile, seed and batch size)."""
    differing = {k: (state.get(k), v) for k, v in run_id.items() if k in state and state[k] != v}
    if differing:
        told = ", ".join(f"{k} {old!r} (now {new!r})" for k, (old, new) in differing.items())
        raise BridgeError(f"checkpoint {path} was written by another run: {told}; resume with the same "
                          "options, or use another --out")


def _train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_set: Any,
                 config: TrainConfig, progress: Progress, save: Callable[[], None],
                 interrupt: DeferredInterrupt) -> None:
    """Continue epoch ``progress.epoch`` from step ``progress.step``, in an order fixed by ``(seed, epoch)``.

    Updates ``progress`` after every step; saves a checkpoint every ``config.checkpoint_every`` steps and,
    after the step in progress, when interrupted (then raises ``KeyboardInterrupt``).
    """
    order = torch.Generator().manual_seed(config.seed * 1_000_003 + progress.epoch)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=order)
    model.train()
    bar = tqdm(total=len(loader), initial=progress.step, desc=f"epoch {progress.epoch + 1}/{config.epochs}",
               unit="batch", disable=not config.progress, leave=False)
    for index, (images, labels) in enumerate(loader):
        if index < progress.step:  # done before the checkpoint this run resumed from
            continue
        optimizer.zero_grad()
        log_probs = model(images)
        loss = F.nll_loss(log_probs, labels)
        loss.backward()
        optimizer.step()
        progress.step += 1
        progress.loss_sum += loss.item() * len(labels)
        progress.correct += int((log_probs.argmax(dim=1) == labels).sum())
        progress.seen += len(labels)
        bar.update(1)
        bar.set_postfix(loss=f"{progress.loss_sum / progress.seen:.4f}", acc=f"{progress.correct / progress.seen:.3f}")
        if interrupt.requested:
            save()
            bar.close()
            raise KeyboardInterrupt
        if config.checkpoint_every and progress.step % config.checkpoint_every == 0 and progress.step < len(loader):
            save()
    bar.close()
    if config.progress:
        tqdm.write(f"epoch {progress.epoch + 1}/{config.epochs}: loss {progress.loss_sum / progress.seen:.4f}, "
                   f"train accuracy {progress.correct / progress.seen:.3f}")


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
