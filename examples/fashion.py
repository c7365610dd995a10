"""Fashion-MNIST T-shirt/top vs Trouser, as the student project built it, with its two angles bounded to
(0, π/2) (see bridge.app.models.FashionHybridNet): trunk → Linear(..., 2) → 2-qubit ZZ feature map + RealAmplitudes
(reps 2) → Linear(1, 1) → sigmoid.

    python examples/fashion.py        # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
from classify import train_and_test  # the loop the image scripts share (examples/classify.py)
from torch import nn

from bridge.app.models import FashionHybridNet


def quantum_layer() -> nn.Module:
    """The network's quantum layer: ``qml-bridge verify --model examples/fashion.py:quantum_layer`` checks it."""
    return FashionHybridNet().quantum  # RealAmplitudes weights from 0


def main(epochs: int = 3, per_class: int = 500, test_per_class: int = 100) -> float:
    torch.manual_seed(0)
    return train_and_test(
        FashionHybridNet(),
        "FashionMNIST",
        (0, 1),
        per_class=per_class,
        test_per_class=test_per_class,
        epochs=epochs,
        lr=1e-3,
        batch_size=1,
        lr_decay=0.7,  # as `qml-bridge train fashion`
    )


if __name__ == "__main__":
    main()
