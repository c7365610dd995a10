"""All ten digits through four qubits: trunk → 4 angles in (0, π) → RX embedding + 2 strongly entangling
layers → the ten values ⟨Z_i⟩, ⟨Z_i Z_j⟩ → Linear(10, 10) logits.

    python examples/mnist10.py        # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from bridge import QuantumLayer, circuits
from bridge.app.data import load_split
from bridge.app.models import TenDigitHybridNet


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/mnist10.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.angle_entangling_zz(4, 2))  # 4 inputs -> 10 expectation values


def main(epochs: int = 5, per_class: int = 400, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    train = load_split("MNIST", train=True, classes=tuple(range(10)), per_class=per_class)
    test = load_split("MNIST", train=False, classes=tuple(range(10)), per_class=test_per_class)
    model = TenDigitHybridNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        model.train()
        for images, labels in DataLoader(train, batch_size=16, shuffle=True):
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()
            optimizer.step()
        print(f"epoch {epoch + 1} done")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=100))
    print(f"test accuracy {correct / len(test):.3f} on {len(test)} images")
    return correct / len(test)


if __name__ == "__main__":
    main()
