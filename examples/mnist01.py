"""The Qiskit textbook's hybrid network, MNIST 0 vs 1, written with qml-bridge's public API only.

Run it on any backend without changing a line:

    python examples/mnist01.py                       # $BRIDGE_DEVICE, else the "aer" profile
    BRIDGE_DEVICE=default python examples/mnist01.py  # PennyLane default.qubit
    BRIDGE_DEVICE=aer-noisy python examples/mnist01.py
    torchrun --standalone --nproc-per-node 2 examples/mnist01.py   # DistributedDataParallel, 2 processes

`qml-bridge train mnist01` runs the same model with checkpoints, plots and metrics.json.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from bridge.app.data import load_split
from bridge.app.distributed import leave, world
from bridge.app.models import TextbookHybridNet


def quantum_layer() -> nn.Module:
    """The network's quantum layer: ``qml-bridge verify --model examples/mnist01.py:quantum_layer`` checks it."""
    return TextbookHybridNet().quantum  # profile from $BRIDGE_DEVICE, default "aer"


def main(epochs: int = 5, digits: tuple[int, int] = (0, 1), per_class: int = 100, test_per_class: int = 100) -> float:
    """Train on ``per_class`` images of each digit, return the accuracy on ``test_per_class`` per digit."""
    torch.manual_seed(0)
    train = load_split("MNIST", train=True, classes=digits, per_class=per_class)
    test = load_split("MNIST", train=False, classes=digits, per_class=test_per_class)
    w = world()  # under torchrun: this process's rank (each builds its own model, device and QNode)
    model = TextbookHybridNet()  # conv trunk → θ = (π/2)·tanh(x) → H·RY(θ) → log(P(0), P(1))
    trained = DistributedDataParallel(model) if w.distributed else model  # gradients all-reduced over ranks
    if w.main:
        print(model.quantum)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shards = DistributedSampler(train, num_replicas=w.size, rank=w.rank, shuffle=True, seed=0)  # disjoint shares
    for epoch in range(epochs):
        model.train()
        shards.set_epoch(epoch)
        total = 0.0
        for images, labels in DataLoader(train, batch_size=1, sampler=shards):
            optimizer.zero_grad()
            loss = F.nll_loss(trained(images), labels)
            loss.backward()  # parameter-shift through the circuit, autograd elsewhere
            optimizer.step()
            total += loss.item()
        if w.main:
            share = " (rank 0's share)" if w.distributed else ""
            print(f"epoch {epoch + 1}: mean loss {total / len(shards):.4f}{share}")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=50))
    if w.main:
        print(f"test accuracy {correct / len(test):.3f} on {len(test)} images")
    leave(w)
    return correct / len(test)


if __name__ == "__main__":
    main()
