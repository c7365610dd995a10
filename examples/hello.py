"""Hello world: rotate one qubit until ⟨Z⟩ hits a target, with four PyTorch optimizers.

    python examples/hello.py          # profile from $BRIDGE_DEVICE, else "aer"

`qml-bridge train hello` also compares finite differences and 100 / 10,000 shots, and plots it all.
"""

from __future__ import annotations

import torch

from bridge import QuantumLayer, circuits

TARGET = -0.5
OPTIMIZERS = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.2),
    "SGD+momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "RMSprop": lambda p: torch.optim.RMSprop(p, lr=0.02),
    "Adam": lambda p: torch.optim.Adam(p, lr=0.1),
}


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/hello.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.u3_rotation(), init_method=lambda w: w.copy_(torch.tensor([0.5, 0.0, 0.0])))


def main(steps: int = 150) -> dict[str, float]:
    errors = {}
    for name, make in OPTIMIZERS.items():
        # U3(theta, phi, lambda)|0>, <Z> = cos(theta); start at theta = 0.5
        layer = quantum_layer()
        optimizer = make(layer.parameters())
        for _ in range(steps):
            optimizer.zero_grad()
            z = layer(torch.zeros(0))[0]
            ((z - TARGET) ** 2).backward()
            optimizer.step()
        errors[name] = abs(layer(torch.zeros(0))[0].item() - TARGET)
        print(f"{name:>13}: |<Z> - target| = {errors[name]:.2e} after {steps} steps")
    return errors


if __name__ == "__main__":
    main()
