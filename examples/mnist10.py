"""All ten digits through four qubits: trunk → 4 angles in (0, π) → RX embedding + 2 strongly entangling
layers → the ten values ⟨Z_i⟩, ⟨Z_i Z_j⟩ → Linear(10, 10) logits.

    python examples/mnist10.py        # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
from classify import train_and_test  # the loop the image scripts share (examples/classify.py)
from torch import nn

from bridge.app.models import TenDigitHybridNet


def quantum_layer() -> nn.Module:
    """The network's quantum layer: ``qml-bridge verify --model examples/mnist10.py:quantum_layer`` checks it."""
    return TenDigitHybridNet().quantum  # 4 inputs -> 10 expectation values


def main(epochs: int = 5, per_class: int = 400, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    return train_and_test(
        TenDigitHybridNet(),
        "MNIST",
        tuple(range(10)),
        per_class=per_class,
        test_per_class=test_per_class,
        epochs=epochs,
        lr=3e-3,
        batch_size=16,
    )


if __name__ == "__main__":
    main()
