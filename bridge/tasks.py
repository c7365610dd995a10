"""The examples ``qml-bridge train NAME`` knows: image tasks (data, model, defaults) and the other problems."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.exceptions import BridgeError
from bridge.profiles import Profile

if TYPE_CHECKING:  # torch and PennyLane load only when a model is built, so the CLI starts fast
    from torch import nn

    from bridge.train import TrainConfig


def _textbook_hybrid(profile: Profile, classical: bool) -> nn.Module:
    from bridge.models import TextbookHybridNet

    return TextbookHybridNet(profile, classical)


def _three_class(profile: Profile, classical: bool) -> nn.Module:
    from bridge.models import MultiClassHybridNet

    return MultiClassHybridNet(3, profile, classical)


def _ten_digits(profile: Profile, classical: bool) -> nn.Module:
    from bridge.models import TenDigitHybridNet

    return TenDigitHybridNet(profile, classical)


def _fashion(profile: Profile, classical: bool) -> nn.Module:
    from bridge.models import FashionHybridNet

    return FashionHybridNet(profile, classical)


@dataclass(frozen=True)
class ImageTask:
    """An image classification task on a subset of an embedded dataset.

    Attributes:
        name: the CLI name.
        summary: one line for listings.
        dataset: ``"MNIST"`` or ``"FashionMNIST"``.
        classes: original labels kept, relabelled ``0..k-1``.
        train_per_class: training images per class.
        test_per_class: test images per class.
        build_model: ``(profile, classical) -> nn.Module`` returning log-probabilities ``(batch, k)``;
            ``classical`` replaces the circuit by a classical layer of the same shapes (the ablation).
        epochs: default number of epochs.
        lr: Adam learning rate.
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
    batch_size: int = 1


TASKS: dict[str, ImageTask] = {
    "mnist01": ImageTask(
        name="mnist01",
        summary="Qiskit textbook hybrid network, MNIST 0 vs 1, 1-qubit H+RY circuit",
        dataset="MNIST", classes=(0, 1), train_per_class=100, test_per_class=100,
        build_model=_textbook_hybrid, epochs=5,
    ),
    "mnist37": ImageTask(
        name="mnist37",
        summary="the textbook network on MNIST 3 vs 7 (the blog's harder pair), all 400 embedded images per class",
        dataset="MNIST", classes=(3, 7), train_per_class=400, test_per_class=100,
        build_model=_textbook_hybrid, epochs=5,
    ),
    "mnist3": ImageTask(
        name="mnist3",
        summary="MNIST 0, 1, 2: trunk → 3 features → 3-qubit circuit whose 3 ⟨Z⟩ are the logits",
        dataset="MNIST", classes=(0, 1, 2), train_per_class=400, test_per_class=100,
        build_model=_three_class, epochs=5,
    ),
    "mnist10": ImageTask(
        name="mnist10",
        summary="all ten MNIST digits: trunk → 4 angles → 4-qubit circuit → 10 values ⟨Z_i⟩, ⟨Z_i Z_j⟩ → logits",
        dataset="MNIST", classes=tuple(range(10)), train_per_class=400, test_per_class=100,
        build_model=_ten_digits, epochs=5, lr=3e-3, batch_size=16,
    ),
    "fashion": ImageTask(
        name="fashion",
        summary="Fashion-MNIST T-shirt/top vs Trouser, 2-qubit ZZ feature map + RealAmplitudes (reps 2)",
        dataset="FashionMNIST", classes=(0, 1), train_per_class=500, test_per_class=100,
        build_model=_fashion, epochs=3,
    ),
}


@dataclass(frozen=True)
class Problem:
    """An example that is not an image classifier; its module in :mod:`bridge.problems` does the work.

    Attributes:
        name: the CLI name (also the module name under ``bridge.problems``).
        summary: one line for listings.
        epochs: default number of epochs (what an epoch is, each module says).
        batch_size: default batch size.
        classical: whether ``--classical`` (the same-shape classical ablation) applies.
        resumable: whether it writes checkpoints that ``--resume`` continues from.
    """

    name: str
    summary: str
    epochs: int
    batch_size: int = 32
    classical: bool = False
    resumable: bool = False

    def check(self, config: TrainConfig) -> None:
        """Refuse options that mean nothing here.

        Raises:
            BridgeError: ``--data-root`` (the problems generate their data), ``--classical`` without an
                ablation, ``--resume`` without checkpoints.
        """
        if config.data_root is not None:
            raise BridgeError(f"{self.name} generates its own seeded data and reads no dataset; drop --data-root")
        if config.classical and not self.classical:
            raise BridgeError(f"{self.name} has no classical ablation of the same shapes (examples/README.md gives "
                              "its classical reference); drop --classical")
        if config.resume and not self.resumable:
            raise BridgeError(f"{self.name} runs in minutes and writes no checkpoint; run it again without --resume")

    def run(self, config: TrainConfig) -> dict[str, Any]:
        """Run the example with ``config``; returns the metrics it wrote to ``metrics.json``."""
        return importlib.import_module(f"bridge.problems.{self.name}").run(config)


PROBLEMS: dict[str, Problem] = {
    "calculator": Problem("calculator", "learn a + b with a 2-qubit ZZ feature map + RealAmplitudes and a linear "
                          "readout", epochs=10, classical=True, resumable=True),
    "hello": Problem("hello", "one qubit: reach a target <Z> with 4 optimizers, parameter-shift vs finite "
                     "differences, exact / 100 / 10,000 shots", epochs=150, batch_size=1),
    "qaoa": Problem("qaoa", "QAOA max-cut trained with Adam on the 2-node graph and random graphs of 4-8 nodes, "
                    "p = 1..3, checked by brute force", epochs=100, batch_size=1),
    "meta": Problem("meta", "an LSTM learns to optimize a 1-qubit rotation, then races Adam on 20 unseen targets",
                    epochs=5, resumable=True),
}

EXAMPLES: dict[str, ImageTask | Problem] = {**TASKS, **PROBLEMS}


def get_example(name: str) -> ImageTask | Problem:
    """The image task or problem called ``name``.

    Raises:
        BridgeError: unknown name (the message lists the known ones).
    """
    try:
        return EXAMPLES[name]
    except KeyError:
        raise BridgeError(f"unknown example {name!r}; known examples: {', '.join(sorted(EXAMPLES))}") from None


def get_task(name: str) -> ImageTask:
    """The task called ``name``.

    Raises:
        BridgeError: unknown name (the message lists the known ones).
    """
    try:
        return TASKS[name]
    except KeyError:
        raise BridgeError(f"unknown example {name!r}; known examples: {', '.join(sorted(TASKS))}") from None
