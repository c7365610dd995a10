"""The training tasks ``qml-bridge train NAME`` knows: data selection, model and defaults, one place each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.exceptions import BridgeError
from bridge.profiles import Profile

if TYPE_CHECKING:  # torch and PennyLane load only when a model is built, so the CLI starts fast
    from torch import nn


def _textbook_hybrid(profile: Profile, classical: bool) -> nn.Module:
    from bridge.models import TextbookHybridNet

    return TextbookHybridNet(profile, classical)


def _three_class(profile: Profile, classical: bool) -> nn.Module:
    from bridge.models import MultiClassHybridNet

    return MultiClassHybridNet(3, profile, classical)


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
    "fashion": ImageTask(
        name="fashion",
        summary="Fashion-MNIST T-shirt/top vs Trouser, 2-qubit ZZ feature map + RealAmplitudes (reps 2)",
        dataset="FashionMNIST", classes=(0, 1), train_per_class=500, test_per_class=100,
        build_model=_fashion, epochs=3,
    ),
}


def get_task(name: str) -> ImageTask:
    """The task called ``name``.

    Raises:
        BridgeError: unknown name (the message lists the known ones).
    """
    try:
        return TASKS[name]
    except KeyError:
        raise BridgeError(f"unknown example {name!r}; known examples: {', '.join(sorted(TASKS))}") from None
