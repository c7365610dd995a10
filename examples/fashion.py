"""Fashion-MNIST T-shirt/top vs Trouser, as the student project built it, with its two angles bounded to
(0, π/2) (see bridge.app.models.FashionHybridNet): trunk → Linear(..., 2) → 2-qubit ZZ feature map + RealAmplitudes
(reps 2) → Linear(1, 1) → sigmoid.

    python examples/fashion.py        # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from bridge import QuantumLayer, circuits
from bridge.app.data import load_split
from bridge.app.models import FashionHybridNet


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/fashion.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.zz_real_amplitudes(2, 2), init_method=nn.init.zeros_)


def main(epochs: int = 3, per_class: int = 500, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    train = load_split("FashionMNIST", train=True, classes=(0, 1), per_class=per_class)
    test = load_split("FashionMNIST", train=False, classes=(0, 1), per_class=test_per_class)
    model = FashionHybridNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.7)  # as `qml-bridge train fashion`
    for epoch in range(epochs):
        model.train()
        for images, labels in DataLoader(train, batch_size=1, shuffle=True):
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()
            optimizer.step()
        schedule.step()
        print(f"epoch {epoch + 1} done")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=50))
    print(f"test accuracy {correct / len(test):.3f} on {len(test)} images")
    return correct / len(test)


if __name__ == "__main__":
    main()
