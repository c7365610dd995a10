"""Figures written by training runs (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_loss(losses: Sequence[float], path: Path, title: str) -> None:
    """Line plot of the mean training loss per epoch."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, marker="o")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("mean training loss (NLL)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_predictions(images: torch.Tensor, predicted: Sequence[int], actual: Sequence[int],
                     class_names: Sequence[str], path: Path, columns: int = 8) -> None:
    """Grid of images ``(n, 1, 28, 28)`` titled "pred P / TRUE"; wrong predictions in red."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4))
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, pred, true in zip(axes.flat, images, predicted, actual, strict=False):
        ax.imshow(image.squeeze(0).numpy(), cmap="gray")
        ax.set_title(f"pred {class_names[pred]} / {class_names[true]}", fontsize=8,
                     color="green" if pred == true else "red")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
