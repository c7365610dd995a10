"""Three digits (0, 1, 2): the textbook trunk ends in 3 features feeding a 3-qubit circuit whose three
⟨Z_i⟩ values, times a learned temperature, are the class logits (the hackathon project's fc2 → 3 → circuit).

    python examples/mnist3.py         # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
from classify import train_and_test  # the loop the image scripts share (examples/classify.py)
from torch import nn

from bridge.app.models import MultiClassHybridNet


def quantum_layer() -> nn.Module:
    """The network's quantum layer: ``qml-bridge verify --model examples/mnist3.py:quantum_layer`` checks it."""
    return MultiClassHybridNet(3).quantum  # RX embedding + 2 entangling layers


def main(epochs: int = 5, per_class: int = 400, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    return train_and_test(
        MultiClassHybridNet(3),
        "MNIST",
        (0, 1, 2),
        per_class=per_class,
        test_per_class=test_per_class,
        epochs=epochs,
        lr=1e-3,
        batch_size=1,
        lr_decay=0.7,  # as `qml-bridge train mnist3`
    )


if __name__ == "__main__":
    main()
