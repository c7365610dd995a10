"""The examples ``qml-bridge train NAME`` knows: one registry, one interface.

Every example has a name, a one-line summary, default epochs and batch size, the options it accepts
(:meth:`check`) and ``run(config) -> metrics``. Its sizes are configuration (:attr:`settings`: a frozen
dataclass a test or a user replaces), never module globals. Supervised examples (the five image classifiers,
and ``calculator``) train in the shared loop of :func:`bridge.app.train.fit`; ``hello``, ``qaoa`` and ``meta``
have loops of their own shapes.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.exceptions import BridgeError
from bridge.profiles import Profile

if TYPE_CHECKING:  # torch loads when an example runs, so the CLI starts fast
    import torch
    from torch import nn
    from torch.utils.data import Dataset

    from bridge.app.train import TrainConfig


@dataclass(frozen=True)
class Options:
    """Which of the common options an example takes (the others are refused with a message)."""

    classical: bool = False  # --classical: a same-shape classical ablation exists
    resumable: bool = False  # --resume: it writes checkpoints
    data_root: bool = False  # --data-root: it reads a dataset
    dry_run: bool = False  # --dry-run: its training set can be previewed
    distributed: bool = False  # torchrun: it trains in the shared loop of bridge.app.train.fit, which shards its data


def check_options(name: str, options: Options, config: TrainConfig, dry_run: bool = False) -> None:
    """Refuse options that mean nothing for example ``name``.

    Raises:
        BridgeError: naming the option and why it does not apply.
    """
    if config.data_root is not None and not options.data_root:
        raise BridgeError(f"{name} generates its own seeded data and reads no dataset; drop --data-root")
    if config.classical and not options.classical:
        raise BridgeError(
            f"{name} has no classical ablation of the same shapes (examples/README.md gives "
            "its classical reference); drop --classical"
        )
    if config.resume and not options.resumable:
        raise BridgeError(f"{name} runs in minutes and writes no checkpoint; run it again without --resume")
    if dry_run and not options.dry_run:
        raise BridgeError(f"--dry-run previews the image examples; {name} runs no training set to preview")
    from bridge.app.validate import launched

    if config.torch_device != "cpu" and not options.distributed:
        raise BridgeError(f"{name} trains outside the shared training loop, on the CPU; drop --torch-device")
    if config.tracking and not options.distributed:
        raise BridgeError(
            f"{name} trains outside the shared training loop, which is what --tracking logs; drop --tracking "
            "(it logs the image examples and calculator)"
        )
    if launched()[0] > 1 and not options.distributed and not dry_run:
        raise BridgeError(
            f"{name} runs in one process (it has no data set to shard); run it without torchrun. torchrun trains "
            "the image examples and calculator"
        )


def _textbook_hybrid(profile: Profile, classical: bool) -> nn.Module:
    from bridge.app.models import TextbookHybridNet

    return TextbookHybridNet(profile, classical)


def _three_class(profile: Profile, classical: bool) -> nn.Module:
    from bridge.app.models import MultiClassHybridNet

    return MultiClassHybridNet(3, profile, classical)


def _ten_digits(profile: Profile, classical: bool) -> nn.Module:
    from bridge.app.models import TenDigitHybridNet

    return TenDigitHybridNet(profile, classical)


def _fashion(profile: Profile, classical: bool) -> nn.Module:
    from bridge.app.models import FashionHybridNet

    return FashionHybridNet(profile, classical)


@dataclass(frozen=True)
class ImageTask:
    """An image classification task on a subset of an embedded dataset (a supervised task of :func:`fit`).

    Attributes:
        name: the CLI name.
        summary: one line for listings.
        dataset: ``"MNIST"`` or ``"FashionMNIST"``.
        classes: original labels kept, relabelled ``0..k-1``.
        train_per_class: training images per class.
        test_per_class: test images per class (with ``--data-root``: every test image of the classes).
        build_model: ``(profile, classical) -> nn.Module`` returning log-probabilities ``(batch, k)``;
            ``classical`` replaces the circuit by a classical layer of the same shapes (the ablation).
        epochs: default number of epochs.
        lr: Adam learning rate.
        lr_decay: the learning rate's factor after each epoch (1: constant).
        batch_size: default batch size.
    """

    name: str
    summary: str
    dataset: str
    classes: tuple[int, ...]
    train_per_class: int
    test_per_class: int
    build_model: Callable[[Profile, bool], nn.Module]
    epochs: int = 5
    lr: float = 1e-3
    lr_decay: float = 1.0
    batch_size: int = 1
    options: Options = Options(classical=True, resumable=True, data_root=True, dry_run=True, distributed=True)
    samples: str = "images"
    classifies: bool = True

    @property
    def settings(self) -> ImageTask:
        """An image task's sizes are its own fields (``dataclasses.replace`` them)."""
        return self

    def check(self, config: TrainConfig, dry_run: bool = False) -> None:
        check_options(self.name, self.options, config, dry_run)

    def run(self, config: TrainConfig) -> dict[str, Any]:
        from bridge.app.train import fit

        self.check(config)
        return fit(self, config)

    # ---- the supervised task's parts
    def datasets(self, config: TrainConfig) -> tuple[Dataset, Dataset]:
        from bridge.app.data import load_split

        train = load_split(
            self.dataset, train=True, classes=self.classes, per_class=self.train_per_class, root=config.data_root
        )
        test = load_split(
            self.dataset,
            train=False,
            classes=self.classes,
            per_class=self.test_per_class if config.data_root is None else None,
            root=config.data_root,
        )
        return train, test

    def optimizers(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        import torch

        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        if self.lr_decay == 1.0:
            return optimizer, None
        return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, self.lr_decay)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.nll_loss(outputs, targets)

    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        return int((outputs.argmax(dim=1) == targets).sum())

    def report(
        self, model: nn.Module, test_set: Dataset, history: dict[str, list[float]], config: TrainConfig, out: Path
    ) -> dict[str, Any]:
        """Test accuracy, loss curve and prediction grid."""
        import torch

        from bridge.app.plots import plot_loss, plot_predictions
        from bridge.app.train import evaluate

        accuracy, images, predicted, actual = evaluate(model, test_set, config.progress)
        title = f"{self.name}, classical ablation" if config.classical else f"{self.name} on {config.profile.name}"
        plot_loss(history["train_loss"], out / "loss.png", title)
        names = [str(c) for c in self.classes]
        shown = torch.linspace(0, len(actual) - 1, min(32, len(actual))).long().tolist()  # spread over classes
        plot_predictions(
            images[shown], [predicted[i] for i in shown], [actual[i] for i in shown], names, out / "predictions.png"
        )
        return {
            "train_accuracy": history["train_accuracy"],
            "test_accuracy": accuracy,
            "summary": f"test accuracy {accuracy:.4f} on {len(actual)} images",
        }


@dataclass(frozen=True)
class Problem:
    """An example that is not an image classifier; its module in :mod:`bridge.app.problems` does the work.

    Attributes:
        name: the CLI name (also the module name under ``bridge.app.problems``).
        summary: one line for listings.
        epochs: default number of epochs (what an epoch is, each module says).
        batch_size: default batch size.
        options: the common options it takes.
    """

    name: str
    summary: str
    epochs: int
    batch_size: int = 32
    options: Options = Options()

    @property
    def settings(self) -> Any:
        """The example's default sizes (its module's ``Settings``); replace them through ``TrainConfig.settings``."""
        return importlib.import_module(f"bridge.app.problems.{self.name}").Settings()

    def check(self, config: TrainConfig, dry_run: bool = False) -> None:
        check_options(self.name, self.options, config, dry_run)

    def run(self, config: TrainConfig) -> dict[str, Any]:
        """Run the example with ``config``; returns the metrics it wrote to ``metrics.json``."""
        self.check(config)
        if config.settings is None:
            config = dataclasses.replace(config, settings=self.settings)
        return importlib.import_module(f"bridge.app.problems.{self.name}").run(config)


Example = ImageTask | Problem

TASKS: dict[str, ImageTask] = {
    "mnist01": ImageTask(
        name="mnist01",
        summary="Qiskit textbook hybrid network, MNIST 0 vs 1, 1-qubit H+RY circuit",
        dataset="MNIST",
        classes=(0, 1),
        train_per_class=100,
        test_per_class=100,
        build_model=_textbook_hybrid,
        epochs=5,
    ),
    "mnist37": ImageTask(
        name="mnist37",
        summary="the textbook network on MNIST 3 vs 7 (the blog's harder pair), all 400 embedded images per class",
        dataset="MNIST",
        classes=(3, 7),
        train_per_class=400,
        test_per_class=100,
        build_model=_textbook_hybrid,
        epochs=5,
    ),
    "mnist3": ImageTask(
        name="mnist3",
        summary="MNIST 0, 1, 2: trunk → 3 features → 3-qubit circuit whose 3 ⟨Z⟩ are the logits",
        dataset="MNIST",
        classes=(0, 1, 2),
        train_per_class=400,
        test_per_class=100,
        build_model=_three_class,
        epochs=5,
        lr_decay=0.7,
    ),
    "mnist10": ImageTask(
        name="mnist10",
        summary="all ten MNIST digits: trunk → 4 angles → 4-qubit circuit → 10 values ⟨Z_i⟩, ⟨Z_i Z_j⟩ → logits",
        dataset="MNIST",
        classes=tuple(range(10)),
        train_per_class=400,
        test_per_class=100,
        build_model=_ten_digits,
        epochs=5,
        lr=3e-3,
        batch_size=16,
    ),
    "fashion": ImageTask(
        name="fashion",
        summary="Fashion-MNIST T-shirt/top vs Trouser, 2-qubit ZZ feature map + RealAmplitudes (reps 2)",
        dataset="FashionMNIST",
        classes=(0, 1),
        train_per_class=500,
        test_per_class=100,
        build_model=_fashion,
        epochs=3,
        lr_decay=0.7,  # test accuracy 0.975-1.0 on seeds 0-9 with a constant rate, 0.985-1.0 with it
    ),
}

PROBLEMS: dict[str, Problem] = {
    "calculator": Problem(
        "calculator",
        "learn a + b with a 2-qubit ZZ feature map + RealAmplitudes and a linear readout",
        epochs=10,
        options=Options(classical=True, resumable=True, distributed=True),
    ),
    "hello": Problem(
        "hello",
        "one qubit: reach a target <Z> with 4 optimizers, parameter-shift vs finite "
        "differences, exact / 100 / 10,000 shots",
        epochs=150,
        batch_size=1,
    ),
    "qaoa": Problem(
        "qaoa",
        "QAOA max-cut trained with Adam on the 2-node graph and random graphs of 4-8 nodes, "
        "p = 1..3, checked by brute force",
        epochs=100,
        batch_size=1,
    ),
    "meta": Problem(
        "meta",
        "an LSTM learns to optimize a 1-qubit rotation, then races Adam on 20 unseen targets",
        epochs=5,
        options=Options(resumable=True),
    ),
}

EXAMPLES: dict[str, Example] = {**TASKS, **PROBLEMS}


def get_example(name: str) -> Example:
    """The example called ``name``.

    Raises:
        BridgeError: unknown name (the message lists the known ones).
    """
    try:
        return EXAMPLES[name]
    except KeyError:
        raise BridgeError(f"unknown example {name!r}; known examples: {', '.join(sorted(EXAMPLES))}") from None


def get_task(name: str) -> ImageTask:
    """The image task called ``name``.

    Raises:
        BridgeError: unknown name (the message lists the known ones).
    """
    try:
        return TASKS[name]
    except KeyError:
        raise BridgeError(f"unknown example {name!r}; known examples: {', '.join(sorted(TASKS))}") from None
