"""The training loop of the supervised examples: progress bar, checkpoints, resume, metrics, devices closed.

A supervised task (:class:`SupervisedTask`: the image classifiers of :mod:`bridge.app.registry` and ``calculator``)
says what its data, model, optimizer, loss and report are; :func:`fit` does the rest, the same way for all.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm  # a widget in Jupyter, text in a terminal

from bridge.app import distributed
from bridge.app.checkpoints import RunCheckpoint, profile_identity, rank_state, write_json
from bridge.app.counting import quantum_devices, summed, tracked
from bridge.app.distributed import World
from bridge.app.interrupts import DeferredInterrupt
from bridge.app.run_folder import check_free_space
from bridge.app.tracking import Tracking
from bridge.exceptions import BridgeError, RankFailure
from bridge.profiles import Profile

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (the CLI's ``train`` options).

    Attributes:
        profile: the device profile of the quantum layer (shots and seed already applied).
        epochs: number of passes over the training set.
        seed: seed of weights, dropout and data order.
        batch_size: samples per optimizer step.
        out: folder for ``metrics.json``, the figures and ``checkpoint.pt``.
        data_root: a dataset root in torchvision's layout, ``None`` for the embedded subset. With a root, the
            test set is every test image of the task's classes (2,000 for Fashion-MNIST's two classes).
        resume: continue from ``out/checkpoint.pt``.
        progress: show a progress bar.
        checkpoint_every: also write a checkpoint every this many optimizer steps (0: after each epoch
            and on interrupt only).
        classical: replace the quantum layer by a classical layer of the same shapes (the ablation).
        settings: the example's sizes (its ``Settings``), ``None`` for its defaults.
        world_size: processes training together (``torchrun``'s ``WORLD_SIZE``; set by :func:`fit`).
        torch_device: where the model's tensors live: ``"cpu"``, or ``"cuda"`` (each process its own GPU, NCCL
            under torchrun); the circuits run where the profile says.
        tracking: experiment trackers to log to (:mod:`bridge.app.tracking`: ``csv``, ``tensorboard``,
            ``mlflow``); rank 0 alone logs.
        claim: called by :func:`output_folder` once the options, profile, data and model have passed their
            checks, before anything is written into ``out``; returns ``out`` (the CLI's
            :class:`bridge.app.run_folder.FolderClaim` creates, locks and clears it there). ``None``: ``out`` is
            simply created.
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
    settings: Any = None
    world_size: int = 1
    torch_device: str = "cpu"
    tracking: tuple[str, ...] = ()
    claim: Callable[[], Path] | None = None

    def metadata(self, example: str) -> dict[str, Any]:
        """The run's settings as ``metrics.json`` records them."""
        return {
            "example": example,
            "classical": self.classical,
            "profile": self.profile.name,
            "device": self.profile.device,
            "shots": self.profile.shots,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "world_size": self.world_size,
            "torch_device": self.torch_device,
        }

    def identity(self, example: str) -> dict[str, Any]:
        """What a checkpoint of this run must match to be resumed by it: the options, and what the profile
        resolved to (a hash of its settings and its backend), so that a profile file of the same name that now
        names another device is not resumed."""
        return {
            "example": example,
            "profile": self.profile.name,
            "shots": self.profile.shots,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "classical": self.classical,
            "world_size": self.world_size,
            **profile_identity(self.profile),
        }


class SupervisedTask(Protocol):
    """What :func:`fit` needs of an example."""

    name: str
    samples: str  # what a sample is called in the metrics ("images": train_images, test_images)
    classifies: bool  # whether train accuracy is counted (correct predictions)

    def datasets(self, config: TrainConfig) -> tuple[Dataset, Dataset]:
        """Training and test sets of ``(input, target)`` pairs."""

    def build_model(self, profile: Profile, classical: bool) -> nn.Module:
        """The model on ``profile`` (or its classical ablation)."""

    def optimizers(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """The optimizer, and a learning-rate scheduler stepped after each epoch (or ``None``)."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss of a batch."""

    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        """Correct predictions in a batch (asked only when the task classifies)."""

    def report(
        self, model: nn.Module, test_set: Dataset, history: dict[str, list[float]], config: TrainConfig, out: Path
    ) -> dict[str, Any]:
        """Evaluate on the test set, write the figures, return the task's own metrics (with a ``summary``)."""


def output_folder(config: TrainConfig) -> Path:
    """The run's output folder, created (claimed through ``config.claim`` where the CLI gave one). A run calls it
    once its checks have passed, right before it writes its first file."""
    if config.claim is not None:
        return config.claim()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_metrics(out: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write ``metrics.json`` (atomically) and return the metrics."""
    write_json(metrics, out / "metrics.json")
    return metrics


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


def fit(task: SupervisedTask, config: TrainConfig) -> dict[str, Any]:
    """Train ``task`` and write its outputs into ``config.out``; under ``torchrun``, as one rank of several.

    A checkpoint (model, optimizer, scheduler, torch and device RNG states of every rank, progress, history,
    seconds and execution counts) is written atomically after every epoch, every ``config.checkpoint_every``
    steps and when the run is interrupted (Ctrl-C, SIGTERM); ``config.resume`` continues from it to the same
    result as an uninterrupted run with the same options, and the metrics count the whole run.

    Under ``torchrun`` (``WORLD_SIZE`` > 1, :mod:`bridge.app.distributed`) the model is wrapped in
    ``DistributedDataParallel``; each rank takes a disjoint shard of every epoch's order (``DistributedSampler``
    seeded by the run's seed; ``config.batch_size`` samples per rank and step), seeds its simulator with
    :func:`bridge.app.distributed.rank_seed` and sends its own jobs. Loss, accuracy and the decision to stop on an
    interrupt are summed over ranks every step, so every rank holds the run's progress; rank 0 alone writes the
    checkpoint (with every rank's RNG states and counts), ``metrics.json`` and the figures.

    Returns:
        The metrics written to ``metrics.json``: the run's settings, train loss (and accuracy) per epoch, the
        task's test metrics, seconds and executions (summed over ranks, and per rank). Ranks other than 0
        return their own counts only and write nothing.

    Raises:
        BridgeError: ``resume`` without a readable checkpoint, or one written by a different run (another
            world size included).
        KeyboardInterrupt: after saving a checkpoint, when interrupted.
    """
    w = distributed.world(config.torch_device)
    try:
        return _fit(task, replace(config, world_size=w.size), w)
    except RuntimeError as e:
        if w.distributed and distributed.is_peer_failure(e):
            raise RankFailure(
                f"rank {w.rank}: another process of this torchrun run stopped ({str(e).splitlines()[0][:160]}); "
                "its checkpoint is intact: rerun the same torchrun command with --resume"
            ) from e
        raise
    finally:
        distributed.leave(w)


def _fit(task: SupervisedTask, config: TrainConfig, w: World) -> dict[str, Any]:
    started = time.perf_counter()
    identity = config.identity(task.name)  # before each rank's own simulator seed: the run's, the same on all
    if w.distributed:
        base = config.profile.seed if config.profile.seed is not None else config.seed
        config = replace(config, profile=config.profile.with_seed(distributed.rank_seed(base, w.rank)))
    seed_everything(config.seed)
    train_set, test_set = task.datasets(config)
    shard = -(-len(train_set) // w.size)
    if config.batch_size > shard:
        each = f" per rank ({len(train_set)} over {w.size} ranks)" if w.distributed else ""
        raise BridgeError(
            f"--batch-size {config.batch_size} is larger than the training set: {shard} {task.samples}{each}; "
            f"give at most {shard}"
        )
    model = task.build_model(config.profile, config.classical)
    placed = distributed.placed(model, w.device)  # on the GPU: inputs moved there, outputs back to the CPU
    if w.distributed:
        ids = [w.device.index] if w.device.type == "cuda" else None
        trained: nn.Module = nn.parallel.DistributedDataParallel(placed, device_ids=ids)
    else:
        trained = placed
    optimizer, scheduler = task.optimizers(model)
    modules = {"model": model, "optimizer": optimizer} | ({"scheduler": scheduler} if scheduler else {})
    out = output_folder(config)
    if w.main:  # the model, Adam's two moments and some room for the rest
        check_free_space(out, 3 * sum(p.numel() * p.element_size() for p in model.parameters()) + 2**20)
    checkpoint = RunCheckpoint(out / CHECKPOINT, identity)
    sampler = DistributedSampler(
        train_set, num_replicas=w.size, rank=w.rank, shuffle=True, seed=config.seed * 1_000_003, drop_last=False
    )
    # its own generator: a loader without one draws its base seed from torch's global RNG at every epoch's start,
    # which would shift the dropout masks of a run resumed mid-epoch
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, generator=torch.Generator())
    history: dict[str, list[float]] = {"train_loss": [], **({"train_accuracy": []} if task.classifies else {})}
    progress, seconds_before, executed_before = Progress(), 0.0, {}
    if config.resume:
        state = checkpoint.restore(
            modules,
            quantum_devices(model),
            epochs=config.epochs,
            steps_per_epoch=len(loader),
            rank=w.rank,
            history_keys=tuple(history),
        )
        history, seconds_before, executed_before = state["history"], state["seconds"], state["execution"]
        progress = Progress(**state["progress"])
    steps = len(loader)
    resume_step = progress.epoch * steps + progress.step if config.resume else None
    tracking = Tracking(config.tracking if w.main else (), out, resume_step, f"{task.name}-seed{config.seed}")
    if tracking and not config.resume:
        tracking.settings({"run": config.metadata(task.name), "profile": dataclasses.asdict(config.profile)})
    status = "FAILED"
    try:
        with tracked(model, executed_before) as execution:

            def save() -> None:
                """Every rank calls it at the same step; rank 0 writes what all of them hold."""
                ranks = distributed.gather(w, rank_state(quantum_devices(model), execution()))
                if w.main:
                    checkpoint.save(
                        modules,
                        quantum_devices(model),
                        asdict(progress),
                        history,
                        seconds_before + time.perf_counter() - started,
                        summed([r["execution"] for r in ranks]),
                        ranks=ranks if w.distributed else None,
                    )
                    tracking.flush()  # what the trackers hold is what the checkpoint holds

            def log(batch_loss: float) -> None:
                """After each step, on the trackers: the step's loss, learning rate, counts and seconds."""
                if tracking:
                    counts = {f"execution/{k}": v for k, v in (execution() or {}).items()}
                    tracking.scalars(
                        progress.epoch * steps + progress.step,
                        {
                            "train/batch_loss": batch_loss,
                            "train/lr": optimizer.param_groups[0]["lr"],
                            "seconds": seconds_before + time.perf_counter() - started,
                            **counts,
                        },
                    )

            with DeferredInterrupt() as interrupt:
                while progress.epoch < config.epochs:
                    sampler.set_epoch(progress.epoch)
                    _train_epoch(task, trained, optimizer, loader, config, progress, save, log, interrupt, w)
                    history["train_loss"].append(progress.loss_sum / progress.seen)
                    if task.classifies:
                        history["train_accuracy"].append(progress.correct / progress.seen)
                    tracking.scalars((progress.epoch + 1) * steps, {f"epoch/{k}": v[-1] for k, v in history.items()})
                    if scheduler is not None:
                        scheduler.step()
                    progress = Progress(epoch=progress.epoch + 1)
                    save()
            per_rank = distributed.gather(w, execution())
            if not w.main:
                status = "FINISHED"
                return {"rank": w.rank, "execution": per_rank[w.rank]}
            reported = task.report(placed, test_set, history, config, out)
            per_rank[0] = execution()
        metrics = {
            **config.metadata(task.name),
            f"train_{task.samples}": len(train_set),
            f"test_{task.samples}": len(test_set),
            "train_loss": history["train_loss"],
            **reported,
            "seconds": round(seconds_before + time.perf_counter() - started, 3),
            "execution": summed(per_rank),  # bridge.qiskit's primitive jobs, circuits and shots, across resumes
            **({"execution_per_rank": per_rank} if w.distributed else {}),
        }
        write_metrics(out, metrics)
        tested = {f"test/{k[5:]}": v for k, v in reported.items() if k.startswith("test_") and _is_number(v)}
        tracking.scalars(config.epochs * steps, tested)
        tracking.files([out / "metrics.json", *sorted(out.glob("*.png")), out / CHECKPOINT])
        status = "FINISHED"
        return metrics
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracking.close(status)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _train_epoch(
    task: SupervisedTask,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    config: TrainConfig,
    progress: Progress,
    save: Any,
    log: Callable[[float], None],
    interrupt: DeferredInterrupt,
    w: World,
) -> None:
    """Continue epoch ``progress.epoch`` from step ``progress.step``, in an order fixed by ``(seed, epoch)``.

    Updates ``progress`` after every step with the sums over all ranks; saves a checkpoint every
    ``config.checkpoint_every`` steps and, after the step in progress, when any rank was interrupted (then
    raises ``KeyboardInterrupt`` on every rank).
    """
    model.train()
    bar = tqdm(
        total=len(loader),
        initial=progress.step,
        desc=f"epoch {progress.epoch + 1}/{config.epochs}",
        unit="batch",
        disable=not (config.progress and w.main),
        leave=False,
    )
    for index, (inputs, targets) in enumerate(loader):
        if index < progress.step:  # done before the checkpoint this run resumed from
            continue
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = task.loss(outputs, targets)
        loss.backward()
        optimizer.step()
        correct = task.correct(outputs, targets) if task.classifies else 0
        loss_sum, correct, seen, interrupted = distributed.sum_over_ranks(
            w, [loss.item() * len(targets), float(correct), float(len(targets)), float(interrupt.requested)]
        )
        progress.step += 1
        progress.loss_sum += loss_sum
        progress.correct += int(correct)
        progress.seen += int(seen)
        log(loss_sum / seen)
        bar.update(1)
        bar.set_postfix(loss=f"{progress.loss_sum / progress.seen:.4f}")
        if interrupted:
            save()
            bar.close()
            raise KeyboardInterrupt
        if config.checkpoint_every and progress.step % config.checkpoint_every == 0 and progress.step < len(loader):
            save()
    bar.close()
    if config.progress and w.main:
        tqdm.write(f"epoch {progress.epoch + 1}/{config.epochs}: loss {progress.loss_sum / progress.seen:.4f}")


def train_task(task: SupervisedTask, config: TrainConfig) -> dict[str, Any]:
    """Train a supervised example (:func:`fit`); the name the image examples' callers know."""
    return fit(task, config)


@torch.no_grad()
def evaluate(
    model: nn.Module, test_set: Dataset, progress: bool = True, batch_size: int = 50
) -> tuple[float, torch.Tensor, list[int], list[int]]:
    """Accuracy on ``test_set`` in eval mode; also returns the images, predictions and labels."""
    model.eval()
    images, predicted, actual = [], [], []
    for batch, labels in tqdm(
        DataLoader(test_set, batch_size=batch_size), desc="test", unit="batch", disable=not progress, leave=False
    ):
        predicted.extend(model(batch).argmax(dim=1).tolist())
        actual.extend(labels.tolist())
        images.append(batch)
    accuracy = sum(p == a for p, a in zip(predicted, actual, strict=True)) / len(actual)
    return accuracy, torch.cat(images), predicted, actual
