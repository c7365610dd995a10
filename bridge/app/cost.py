"""Cost preview of a training run: primitive jobs, circuits (PUB rows) and shots, without running a circuit.

The model is built on its profile's ``bridge.qiskit`` device in *dry-run* mode (the device compiles and
counts every job but returns zeros instead of running it; an ``ibm`` profile gets a local stand-in
backend, so no account or network is needed). One training step is traced at each batch size the run
will use, and one evaluation batch likewise; a run's counts are those steps times how often they occur.
The counts are exact for ``bridge.qiskit``, whose jobs per step depend only on the circuit's structure
and the batch size; ``tests/test_ibm.py`` checks them against a real run's job counter.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pennylane as qml
import torch
import torch.nn.functional as F

from bridge.app.registry import ImageTask
from bridge.exceptions import ProfileError

# IBM's default repetition delay between shots on its Eagle and Heron devices (seconds)
REP_DELAY_SECONDS = 250e-6
EVALUATION_BATCH = 50  # bridge.app.train.evaluate's batch size


@dataclass(frozen=True)
class Counts:
    """What some circuit executions cost.

    Attributes:
        jobs: primitive jobs (one queue entry each on hardware).
        pub_rows: circuits, one per parameter row of a PUB.
        shots: shots summed over circuits (0 on exact profiles).
    """

    jobs: int = 0
    pub_rows: int = 0
    shots: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.jobs + other.jobs, self.pub_rows + other.pub_rows, self.shots + other.shots)

    def __mul__(self, k: int) -> Counts:
        return Counts(self.jobs * k, self.pub_rows * k, self.shots * k)

    @classmethod
    def from_tracker(cls, tracker: qml.Tracker) -> Counts:
        totals = tracker.totals
        return cls(
            int(totals.get("primitive_jobs", 0)), int(totals.get("pub_rows", 0)), int(totals.get("circuit_shots", 0))
        )


@dataclass(frozen=True)
class CostPreview:
    """A run's predicted cost.

    Attributes:
        step: one training step at the run's batch size (of one rank).
        epoch: one pass over the training images (one rank's shard of them).
        evaluation: the test-set evaluation at the end of the run (rank 0 alone evaluates).
        total: ``epochs`` epochs plus the evaluation, all ranks together.
        epochs: epochs of the run.
        steps_per_epoch: optimizer steps per epoch.
        nproc: processes the run is previewed for (``torchrun --nproc-per-node``; 1 without torchrun).
        qpu_seconds: for shot-based profiles, ``total.shots × 250 µs`` (IBM's default repetition delay):
            a lower bound of QPU time on hardware, ignoring circuit duration and per-job overhead.
    """

    step: Counts
    epoch: Counts
    evaluation: Counts
    total: Counts
    epochs: int
    steps_per_epoch: int
    qpu_seconds: float | None
    nproc: int = 1

    @property
    def rank0(self) -> Counts:
        """Rank 0's share: its epochs and the evaluation."""
        return self.epoch * self.epochs + self.evaluation

    @property
    def other_rank(self) -> Counts:
        """Each other rank's share: its epochs."""
        return self.epoch * self.epochs


def _refuse_without_jobs(where: str) -> None:
    raise ProfileError(
        f"--dry-run counts the primitive jobs of bridge.qiskit profiles (aer, aer-shots, "
        f"aer-noisy, ibm, ibm-fake-*); {where}"
    )


def _bridge_devices(model: torch.nn.Module, profile: Any) -> list[Any]:
    from bridge.app.counting import batch_devices

    devices = batch_devices(model)
    if not devices:
        _refuse_without_jobs(f"the model on profile {profile.name!r} runs no quantum device (--classical?)")
    return devices


def _traced(devices: list[Any], run: Any) -> Counts:
    with contextlib.ExitStack() as stack:
        trackers = [stack.enter_context(qml.Tracker(d)) for d in devices]
        run()
    total = Counts()
    for tracker in trackers:
        total = total + Counts.from_tracker(tracker)
    return total


def preview_training(task: ImageTask, config: Any, nproc: int = 1) -> CostPreview:
    """Predict the jobs, circuits and shots of ``train_task(task, config)`` without running a circuit.

    Args:
        task: the example.
        config: its :class:`~bridge.app.train.TrainConfig` (profile, epochs, batch size per rank, data root).
        nproc: ranks of a ``torchrun`` run: each takes ``⌈images / nproc⌉`` images per epoch (torch's
            ``DistributedSampler`` pads the last shard), rank 0 alone evaluates.

    Raises:
        ProfileError: the profile does not run on ``bridge.qiskit`` (nothing to count).
    """
    train_set, test_set = task.datasets(config)
    if config.profile.device != "bridge.qiskit":
        _refuse_without_jobs(f"profile {config.profile.name!r} runs on {config.profile.device}")
    model = task.build_model(config.profile.as_dry_run(), config.classical)
    devices = _bridge_devices(model, config.profile)

    def step_cost(size: int) -> Counts:
        images = torch.stack([train_set[i][0] for i in range(size)])
        labels = torch.tensor([train_set[i][1] for i in range(size)])
        model.train()
        return _traced(devices, lambda: F.nll_loss(model(images), labels).backward())

    def evaluation_cost(size: int) -> Counts:
        images = torch.stack([test_set[i][0] for i in range(size)])
        model.eval()
        with torch.no_grad():
            return _traced(devices, lambda: model(images))

    shard = -(-len(train_set) // nproc)
    batch = min(config.batch_size, shard)
    full, rest = divmod(shard, batch)
    step = step_cost(batch)
    epoch = step * full + (step_cost(rest) if rest else Counts())
    eval_full, eval_rest = divmod(len(test_set), EVALUATION_BATCH)
    evaluation = (evaluation_cost(EVALUATION_BATCH) * eval_full if eval_full else Counts()) + (
        evaluation_cost(eval_rest) if eval_rest else Counts()
    )
    total = epoch * (config.epochs * nproc) + evaluation
    qpu = None if config.profile.exact else total.shots * REP_DELAY_SECONDS
    return CostPreview(step, epoch, evaluation, total, config.epochs, full + bool(rest), qpu, nproc)


def format_preview(preview: CostPreview, batch_size: int) -> str:
    """The preview as a small table."""
    if preview.nproc == 1:
        rows = [
            (f"one step (batch {batch_size})", preview.step),
            (f"one epoch ({preview.steps_per_epoch} steps)", preview.epoch),
            ("test evaluation", preview.evaluation),
            (f"whole run ({preview.epochs} epochs + test)", preview.total),
        ]
    else:
        n = preview.nproc
        rows = [
            (f"one step of one rank (batch {batch_size})", preview.step),
            (f"one epoch of one rank ({preview.steps_per_epoch} steps)", preview.epoch),
            ("test evaluation (rank 0)", preview.evaluation),
            (f"rank 0 ({preview.epochs} epochs + test)", preview.rank0),
            (f"{'rank 1' if n == 2 else f'each of ranks 1..{n - 1}'} ({preview.epochs} epochs)", preview.other_rank),
            (f"all {n} ranks together", preview.total),
        ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'jobs':>8}  {'circuits':>10}  {'shots':>14}"]
    lines += [f"{label:<{width}}  {c.jobs:>8,}  {c.pub_rows:>10,}  {c.shots:>14,}" for label, c in rows]
    if preview.qpu_seconds is not None:
        lines.append(
            f"QPU time on hardware: at least {preview.qpu_seconds / 60:,.1f} min (shots × 250 µs "
            "repetition delay; circuit duration and per-job overhead come on top)"
        )
    return "\n".join(lines)
