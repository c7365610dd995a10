"""Your own QNode in your own CNN, trained by qml-bridge's loop: checkpoints, resume, metrics, trackers, torchrun.

    python examples/own_model.py                    # profile from $BRIDGE_DEVICE, else "aer"
    BRIDGE_DEVICE=aer-shots python examples/own_model.py
    torchrun --standalone --nproc-per-node 2 examples/own_model.py

Nothing here is an example of the project's: a plain PennyLane QNode wrapped in ``qml.qnn.TorchLayer`` inside a
plain ``nn.Module``; only the device line names a profile. MNIST 0 vs 1 from the embedded subset (100 training
and 100 test images per digit).
"""

from __future__ import annotations

import sys

import pennylane as qml
import torch
from torch import nn

import bridge
from bridge.app import fit
from bridge.app.data import load_split

WIRES = 2


def quantum_layer(profile: str | None = None) -> nn.Module:
    """Two angles in, ⟨Z₀⟩ and ⟨Z₁⟩ out: RY embedding, one entangling layer of trainable RY.

    ``qml-bridge verify --model examples/own_model.py:quantum_layer`` checks it against the reference."""
    dev = bridge.device(profile, wires=WIRES)  # the one line that picks the backend

    @qml.qnode(dev, diff_method="parameter-shift")
    def circuit(inputs: torch.Tensor, weights: torch.Tensor) -> list:
        for wire in range(WIRES):
            qml.RY(inputs[..., wire], wires=wire)
        qml.CNOT(wires=[0, 1])
        for wire in range(WIRES):
            qml.RY(weights[wire], wires=wire)
        return [qml.expval(qml.PauliZ(wire)) for wire in range(WIRES)]

    return qml.qnn.TorchLayer(circuit, {"weights": (WIRES,)})


class SmallHybrid(nn.Module):
    """(batch, 1, 28, 28) images → a small CNN → 2 angles in (0, π) → the QNode → 2 log-probabilities."""

    def __init__(self, profile: str | None = None) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Conv2d(4, 8, 5, stride=2), nn.ReLU(), nn.Flatten()
        )
        self.angles = nn.Linear(8 * 4 * 4, WIRES)
        self.quantum = quantum_layer(profile)
        self.readout = nn.Linear(WIRES, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        angles = torch.pi * torch.sigmoid(self.angles(self.features(images)))
        return torch.log_softmax(self.readout(self.quantum(angles)), dim=1)


def main(out: str = "runs/own-model", epochs: int = 2) -> dict:
    torch.manual_seed(0)
    train = load_split("MNIST", train=True, classes=(0, 1), per_class=100)
    test = load_split("MNIST", train=False, classes=(0, 1), per_class=100)
    metrics = fit(SmallHybrid(), train, test, epochs=epochs, batch_size=8, lr=0.01, out=out)
    if "summary" in metrics:  # rank 0 reports the run; under torchrun the other ranks return their own counts
        print(metrics["summary"])
    return metrics


if __name__ == "__main__":
    main(*sys.argv[1:2])
