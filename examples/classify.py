"""The plain PyTorch loop the image-classifier scripts share (fashion.py, mnist3.py, mnist10.py): Adam, NLL loss,
shuffled batches, then the accuracy on the test images. ``qml-bridge train NAME`` runs the same models with
checkpoints, metrics and plots."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from bridge.app.data import load_split


def train_and_test(
    model: nn.Module,
    dataset: str,
    classes: tuple[int, ...],
    *,
    per_class: int,
    test_per_class: int,
    epochs: int,
    lr: float,
    batch_size: int = 1,
    lr_decay: float = 1.0,
) -> float:
    """Train ``model`` (log-probabilities out) on ``per_class`` embedded training images of each class of
    ``dataset`` ("MNIST" or "FashionMNIST"); return its accuracy on ``test_per_class`` test images per class."""
    train = load_split(dataset, train=True, classes=classes, per_class=per_class)
    test = load_split(dataset, train=False, classes=classes, per_class=test_per_class)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay)  # lr_decay 1: a constant rate
    for epoch in range(epochs):
        model.train()
        for images, labels in DataLoader(train, batch_size=batch_size, shuffle=True):
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()  # parameter-shift through the circuit
            optimizer.step()
        schedule.step()
        print(f"epoch {epoch + 1} done")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=100))
    print(f"test accuracy {correct / len(test):.3f} on {len(test)} images")
    return correct / len(test)
