"""Three digits (0, 1, 2): the textbook trunk ends in 3 features feeding a 3-qubit circuit whose three
⟨Z_i⟩ values, times a learned temperature, are the class logits (the hackathon project's fc2 → 3 → circuit).

    python examples/mnist3.py         # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from bridge import QuantumLayer, circuits
from bridge.app.data import load_split
from bridge.app.models import MultiClassHybridNet


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/mnist3.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.angle_entangling(3, 2))  # RX embedding + 2 entangling layers


def main(epochs: int = 5, per_class: int = 400, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    train = load_split("MNIST", train=True, classes=(0, 1, 2), per_class=per_class)
    test = load_split("MNIST", train=False, classes=(0, 1, 2), per_class=test_per_class)
    model = MultiClassHybridNet(3)  # trunk → 3 angles in (0, π) → circuit → ⟨Z_i⟩ × temperature
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        model.train()
        for images, labels in DataLoader(train, batch_size=1, shuffle=True):
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()
            optimizer.step()
        print(f"epoch {epoch + 1} done")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=50))
    print(f"test accuracy {correct / len(test):.3f} on {len(test)} images")
    return correct / len(test)


if __name__ == "__main__":
    main()
