"""Your own model through the examples' training loop: :func:`fit`.

A user's ``nn.Module`` (with :class:`~bridge.layers.QuantumLayer` s or their own ``qml.qnn.TorchLayer`` s, on any
profile) gets what the examples get from :func:`bridge.app.train.fit`: a progress bar, atomic checkpoints and
``resume``, ``metrics.json`` with the primitive jobs, PUB rows and shots of its ``bridge.qiskit`` devices, the
experiment trackers of :mod:`bridge.app.tracking`, a loss figure, and ``torchrun`` (DistributedDataParallel, each
rank a disjoint shard of every epoch).

    from bridge.app import fit
    metrics = fit(model, train_set, test_set, epochs=3, batch_size=8, out="runs/mine", tracking=["csv"])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from bridge.app.counting import quantum_devices
from bridge.app.train import TrainConfig
from bridge.app.train import fit as fit_task
from bridge.exceptions import BridgeError
from bridge.profiles import Profile

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass
class OwnModelTask:
    """A user's model and data as a supervised task of :func:`bridge.app.train.fit`."""

    model: nn.Module
    train_data: Dataset
    test_data: Dataset | None
    loss_fn: Loss
    classifies: bool
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
    name: str = "own-model"
    samples: str = "samples"

    def datasets(self, config: TrainConfig) -> tuple[Dataset, Dataset]:
        return self.train_data, self.test_data if self.test_data is not None else _Empty()

    def build_model(self, profile: Profile, classical: bool) -> nn.Module:
        return self.model

    def optimizers(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        return self.make_optimizer(model.parameters()), None

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(outputs, targets)

    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        return int((outputs.argmax(dim=1) == targets).sum())

    @torch.no_grad()
    def report(
        self, model: nn.Module, test_set: Dataset, history: dict[str, list[float]], config: TrainConfig, out: Path
    ) -> dict[str, Any]:
        """The loss figure, and on the test data its mean loss (and accuracy when the model classifies)."""
        from bridge.app.plots import plot_loss

        plot_loss(history["train_loss"], out / "loss.png", f"{self.name} on {config.profile.name}", "training loss")
        reported: dict[str, Any] = {"summary": "no test data"}
        if self.classifies:
            reported["train_accuracy"] = history["train_accuracy"]
        if len(test_set) == 0:  # type: ignore[arg-type]
            return reported
        model.eval()
        loss_sum, correct, seen = 0.0, 0, 0
        for inputs, targets in DataLoader(test_set, batch_size=max(config.batch_size, 50)):
            outputs = model(inputs)
            loss_sum += float(self.loss_fn(outputs, targets)) * len(targets)
            correct += self.correct(outputs, targets) if self.classifies else 0
            seen += len(targets)
        reported["test_loss"] = loss_sum / seen
        if self.classifies:
            reported["test_accuracy"] = correct / seen
            reported["summary"] = f"test accuracy {correct / seen:.4f} on {seen} samples"
        else:
            reported["summary"] = f"test loss {loss_sum / seen:.6g} on {seen} samples"
        return reported


class _Empty(Dataset):
    def __len__(self) -> int:
        return 0

    def __getitem__(self, index: int) -> Any:
        raise IndexError(index)


def model_profile(model: nn.Module) -> Profile:
    """What a run's metadata and checkpoint identity say about a user's model: its quantum layers' profile when
    they are :class:`~bridge.layers.QuantumLayer` s of one profile, else a description of its devices."""
    from bridge.layers import QuantumLayer

    profiles = [m.profile for m in model.modules() if isinstance(m, QuantumLayer) and m.profile is not None]
    if profiles and all(p == profiles[0] for p in profiles):
        return profiles[0]
    devices = quantum_devices(model)
    names = sorted({d.name for d in devices}) or ["none"]
    shots = {getattr(d, "shots", None) for d in devices}
    total = next(iter(shots)).total_shots if len(shots) == 1 and next(iter(shots)) is not None else None
    return Profile(name="own model", description="the model's own devices", device="+".join(names), shots=total)


def fit(
    model: nn.Module,
    train_data: Dataset,
    test_data: Dataset | None = None,
    *,
    loss: Loss | None = None,
    classifies: bool | None = None,
    epochs: int = 1,
    batch_size: int = 1,
    lr: float = 1e-3,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
    out: str | Path = "runs/own-model",
    seed: int = 0,
    resume: bool = False,
    checkpoint_every: int = 0,
    tracking: Iterable[str] = (),
    progress: bool = True,
    name: str = "own-model",
) -> dict[str, Any]:
    """Train a user's ``model`` with the loop, checkpoints, metrics and trackers of ``qml-bridge train``.

    Args:
        model: any ``nn.Module``; its ``TorchLayer`` s' devices are counted (``bridge.qiskit``) and closed.
        train_data: a map-style dataset of ``(input, target)`` pairs.
        test_data: the same, evaluated after training (``None``: no test).
        loss: ``loss(outputs, targets)`` → mean loss of a batch (default: ``nll_loss`` of log-probabilities).
        classifies: count accuracy as ``outputs.argmax(1) == targets`` (default: whether ``loss`` is the default).
        epochs: passes over ``train_data``.
        batch_size: samples per step (per rank under torchrun).
        lr: Adam's learning rate.
        optimizer: replaces Adam: ``params -> Optimizer``.
        out: the run's folder (``metrics.json``, ``loss.png``, ``checkpoint.pt``, the trackers' files).
        seed: seeds torch, NumPy and Python before training, and the data order.
        resume: continue from ``out/checkpoint.pt`` (the same model, data sizes, seed and batch size).
        checkpoint_every: also checkpoint every this many steps (0: after each epoch and on Ctrl-C).
        tracking: any of ``"csv"``, ``"tensorboard"``, ``"mlflow"`` (:mod:`bridge.app.tracking`).
        progress: show progress bars.
        name: the run's name in the metrics and trackers.

    Returns:
        The metrics written to ``out/metrics.json``: settings, ``train_loss`` per epoch (``train_accuracy``),
        ``test_loss`` (``test_accuracy``), seconds and ``execution`` (jobs, PUB rows and shots, ``None`` without a
        ``bridge.qiskit`` device). Under ``torchrun`` rank 0 returns (and writes) these; every other rank returns
        ``{"rank": r, "execution": …}``, its own counts.

    Raises:
        BridgeError: an empty training set, a batch larger than it, an unknown tracker or a missing package, a
            checkpoint that does not match.

    Under ``torchrun``, build the model the same way on every rank; give each rank's sampling device its own seed
    (:func:`bridge.app.distributed.rank_seed`) so that the ranks' shot noise is independent.
    """
    from bridge.app.validate import check_tracking_available

    if len(train_data) == 0:  # type: ignore[arg-type]
        raise BridgeError("train_data is empty: give at least one (input, target) pair")
    tracking = tuple(dict.fromkeys(tracking))
    check_tracking_available(tracking)
    default_loss = loss is None
    task = OwnModelTask(
        model=model,
        train_data=train_data,
        test_data=test_data,
        loss_fn=loss or nn.functional.nll_loss,
        classifies=default_loss if classifies is None else classifies,
        make_optimizer=optimizer or (lambda params: torch.optim.Adam(params, lr=lr)),
        name=name,
    )
    config = TrainConfig(
        profile=model_profile(model),
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        out=Path(out),
        resume=resume,
        progress=progress,
        checkpoint_every=checkpoint_every,
        tracking=tracking,
    )
    return fit_task(task, config)
