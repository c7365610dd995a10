"""Fashion-MNIST T-shirt/top vs Trouser, as the student project built it: trunk → Linear(..., 2) → 2-qubit
ZZ feature map + RealAmplitudes (reps 2) → Linear(1, 1) → sigmoid.

    python examples/fashion.py        # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from bridge import QuantumLayer, circuits
from bridge.data import load_split


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/fashion.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.zz_real_amplitudes(2, 2), init_method=nn.init.zeros_)


class FashionNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 2)
        # RealAmplitudes weights start at 0: from a uniform [0, 2*pi) start training stalled on some seeds
        self.quantum = quantum_layer()
        self.readout = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), training=self.training)
        p1 = torch.sigmoid(self.readout(self.quantum(self.fc2(x))))  # P(trouser), (batch, 1)
        return torch.log(torch.cat([1 - p1, p1], dim=1).clamp_min(1e-12))


def main(epochs: int = 3, per_class: int = 500, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    train = load_split("FashionMNIST", train=True, classes=(0, 1), per_class=per_class)
    test = load_split("FashionMNIST", train=False, classes=(0, 1), per_class=test_per_class)
    model = FashionNet()
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
