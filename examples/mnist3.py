"""Three digits (0, 1, 2): the textbook trunk ends in 3 features feeding a 3-qubit circuit whose three
⟨Z_i⟩ values, times a learned temperature, are the class logits (the hackathon project's fc2 → 3 → circuit).

    python examples/mnist3.py         # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from bridge import QuantumLayer, circuits
from bridge.data import load_split


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/mnist3.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.angle_entangling(3, 2))  # RX embedding + 2 entangling layers


class ThreeClassNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 3)
        self.quantum = quantum_layer()
        self.temperature = nn.Parameter(torch.tensor(3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), training=self.training)
        return F.log_softmax(self.temperature * self.quantum(self.fc2(x)), dim=1)  # (batch, 3)


def main(epochs: int = 5, per_class: int = 400, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    train = load_split("MNIST", train=True, classes=(0, 1, 2), per_class=per_class)
    test = load_split("MNIST", train=False, classes=(0, 1, 2), per_class=test_per_class)
    model = ThreeClassNet()
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
