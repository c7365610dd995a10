"""Figures written by training runs (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from bridge.app.run_folder import write_atomic  # noqa: E402


def plot_loss(losses: Sequence[float], path: Path, title: str, ylabel: str = "mean training loss (NLL)") -> None:
    """Line plot of the mean training loss per epoch."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, marker="o")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _label_and_save(fig, ax, path, title, ylabel)


def plot_predictions(
    images: torch.Tensor,
    predicted: Sequence[int],
    actual: Sequence[int],
    class_names: Sequence[str],
    path: Path,
    columns: int = 8,
) -> None:
    """Grid of images ``(n, 1, 28, 28)`` titled "pred P / TRUE"; wrong predictions in red."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4))
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, pred, true in zip(axes.flat, images, predicted, actual, strict=False):
        ax.imshow(image.squeeze(0).numpy(), cmap="gray")
        ax.set_title(
            f"pred {class_names[pred]} / {class_names[true]}", fontsize=8, color="green" if pred == true else "red"
        )
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


def plot_regression(
    true: Sequence[float], predicted: Sequence[float], path: Path, title: str, xlabel: str, ylabel: str
) -> None:
    """Scatter of predicted against true values, with the diagonal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, predicted, s=6, alpha=0.6)
    low, high = min(true), max(true)
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_xlabel(xlabel)
    _label_and_save(fig, ax, path, title, ylabel)


def _label_and_save(fig: Any, ax: Any, path: Path, title: str, ylabel: str) -> None:
    """Label the y axis and title the axes, grid them, and write the figure (120 dpi), closed after."""
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


def plot_panels(
    panels: dict[str, dict[str, Sequence[float]]], path: Path, title: str, xlabel: str, ylabel: str, log: bool = True
) -> None:
    """Side-by-side panels (panel title → curves), one line per named curve; "finite-diff" curves dashed."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False, sharey=True)
    for ax, (panel, curves) in zip(axes[0], panels.items(), strict=True):
        for name, values in curves.items():
            ax.plot(
                range(len(values)), values, label=name, linestyle="--" if "finite-diff" in name else "-", linewidth=1
            )
        if log:
            ax.set_yscale("log")
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
