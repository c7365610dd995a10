"""The training tasks ``qml-bridge train NAME`` knows: data selection, model and defaults, one place each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.exceptions import BridgeError
from bridge.profiles import Profile

if TYPE_CHECKING:  # torch and PennyLane load only when a model is built, so the CLI starts fast
    from torch import nn


def _textbook_hybrid(profile: Profile) -> nn.Module:
    from bridge.models import TextbookHybridNet

    return TextbookHybridNet(profile)


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
        build_model: ``profile -> nn.Module`` returning log-probabilities ``(batch, k)``.
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
    build_model: Callable[[Profile], nn.Module]
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
