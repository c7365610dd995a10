"""Hybrid networks of the examples: a classical network feeding a :class:`~bridge.layers.QuantumLayer`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bridge.circuits import CircuitSpec, angle_entangling, angle_entangling_zz, textbook_hry, zz_real_amplitudes
from bridge.layers import QuantumLayer
from bridge.profiles import Profile


class ClassicalStandIn(nn.Module):
    """The ablation of a quantum layer: ``tanh(Linear(n_inputs, n_outputs))``, the same shapes and the same
    output range [−1, 1] as the circuit's expectation values it replaces (``--classical``)."""

    def __init__(self, circuit: CircuitSpec) -> None:
        super().__init__()
        self.circuit = circuit
        self.linear = nn.Linear(circuit.n_inputs, circuit.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(x))

    def extra_repr(self) -> str:
        return f"replaces={self.circuit.name}"


def quantum_or_classical(
    circuit: CircuitSpec, profile: str | Profile | None, classical: bool, init_method: Callable[..., Any] | None = None
) -> nn.Module:
    """A :class:`QuantumLayer` of ``circuit`` on ``profile`` (weights from ``init_method``, default uniform on
    [0, 2π)), or its :class:`ClassicalStandIn`."""
    if classical:
        return ClassicalStandIn(circuit)
    return QuantumLayer(circuit, profile=profile, init_method=init_method)


class TextbookFeatures(nn.Module):
    """The Qiskit textbook's convolutional trunk: ``(batch, 1, 28, 28)`` images → ``(batch, n_out)``.

    conv 5×5 (10) → max-pool → ReLU → conv 5×5 (20) → dropout2d → max-pool → ReLU → linear 320→50 → ReLU
    → dropout → linear 50→``n_out``. ``dropout=False`` leaves out both dropouts.
    """

    def __init__(self, n_out: int, dropout: bool = True) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d() if dropout else nn.Identity()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.dropout(x, training=self.training and self.dropout)
        return self.fc2(x)


class TextbookHybridNet(nn.Module):
    """The Qiskit textbook's hybrid classifier for two classes.

    The trunk reduces an image to one angle θ; the 1-qubit circuit ``H · RY(θ)`` gives ⟨Z⟩, and
    p = P(|1⟩) = (1 − ⟨Z⟩)/2 is the probability of class 1. Output: log-probabilities
    ``(batch, 2)`` = log(1 − p, p), for ``F.nll_loss``.

    Args:
        profile: device profile of the quantum layer (name, path or :class:`~bridge.profiles.Profile`).
        classical: replace the circuit by its :class:`ClassicalStandIn` (the ablation).
    """

    def __init__(self, profile: str | Profile | None = None, classical: bool = False) -> None:
        super().__init__()
        self.features = TextbookFeatures(1)
        self.quantum = quantum_or_classical(textbook_hry(), profile, classical)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return two_class_log_probs(self.quantum(self.features(images)))


class MultiClassHybridNet(nn.Module):
    """The textbook trunk ending in ``k`` features that feed a ``k``-qubit circuit; its ``k`` values ⟨Z_i⟩,
    times a learned temperature, are the class logits (the hackathon project's ``fc2 → 3 → circuit``).

    The circuit: RX angle embedding + 2 strongly entangling layers. Output: log-probabilities ``(batch, k)``.
    """

    def __init__(self, n_classes: int, profile: str | Profile | None = None, classical: bool = False) -> None:
        super().__init__()
        self.features = TextbookFeatures(n_classes)
        self.quantum = quantum_or_classical(angle_entangling(n_classes, 2), profile, classical)
        self.temperature = nn.Parameter(torch.tensor(3.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.temperature * self.quantum(self.features(images)), dim=-1)


class TenDigitHybridNet(nn.Module):
    """All ten digits through four qubits: the textbook trunk (without dropout) → 4 angles + π/2 → RX
    embedding + 2 strongly entangling layers → the ten values ⟨Z_i⟩ and ⟨Z_i Z_j⟩ → ``Linear(10, 10)`` logits.

    Output: log-probabilities ``(batch, 10)``. Measured with backprop on default.qubit (seed 0, 2 epochs):
    0.44 test accuracy as the textbook trunk feeds the angles; 0.63 with the π/2 offset (the trunk's outputs
    start near 0, where ∂cos x/∂x of the RX embedding vanishes); 0.81 without the trunk's dropout, whose noise
    a 4-wide bottleneck cannot average out (0.93 after 4 epochs).
    """

    def __init__(self, profile: str | Profile | None = None, classical: bool = False) -> None:
        super().__init__()
        circuit = angle_entangling_zz(4, 2)
        self.features = TextbookFeatures(circuit.n_inputs, dropout=False)
        self.quantum = quantum_or_classical(circuit, profile, classical)
        self.readout = nn.Linear(circuit.n_outputs, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        angles = self.features(images) + math.pi / 2
        return F.log_softmax(self.readout(self.quantum(angles)), dim=-1)


class FashionHybridNet(nn.Module):
    """The Fashion-MNIST student project's network: trunk → ``Linear(…, 2)`` → 2-qubit ZZ feature map +
    RealAmplitudes (reps 2) → ``Linear(1, 1)`` → sigmoid = p(class 1). Output: log(1 − p, p) ``(batch, 2)``.

    The RealAmplitudes weights start at 0: with the default uniform [0, 2π) start, 4 of 6 runs measured
    (seeds 0–3) stayed at test accuracy 0.49–0.74 (the circuit's output turns fast in its inputs, ≈ 2π per
    radian, through the feature map's (π − x0)(π − x1) term); from 0 it learned on every seed tried (0, 1, 3).
    """

    def __init__(self, profile: str | Profile | None = None, classical: bool = False) -> None:
        super().__init__()
        self.features = TextbookFeatures(2)
        self.quantum = quantum_or_classical(zz_real_amplitudes(2, 2), profile, classical, init_method=nn.init.zeros_)
        self.readout = nn.Linear(1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return log_two_class(torch.sigmoid(self.readout(self.quantum(self.features(images)))))


def two_class_log_probs(z: torch.Tensor) -> torch.Tensor:
    """⟨Z⟩ ``(batch, 1)`` → log(1 − p, p) ``(batch, 2)`` with p = P(|1⟩) = (1 − ⟨Z⟩)/2."""
    return log_two_class((1.0 - z) / 2.0)


def log_two_class(p1: torch.Tensor) -> torch.Tensor:
    """P(class 1) ``(batch, 1)`` → log(1 − p, p) ``(batch, 2)``, clamped away from log 0."""
    return torch.log(torch.cat([1.0 - p1, p1], dim=-1).clamp_min(1e-12))


class ReferenceTextbookNet(nn.Module):
    """:class:`TextbookHybridNet` with the circuit run by the PennyLane-free reference on Aer."""

    def __init__(self) -> None:
        super().__init__()
        from bridge.reference import ReferenceLayer, ReferenceQNN
        from bridge.reference.models import textbook_hry as qiskit_textbook_hry

        model = qiskit_textbook_hry()
        self.features = TextbookFeatures(1)
        self.quantum = ReferenceLayer(ReferenceQNN(model.circuit, model.inputs, model.weights, list(model.observables)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return two_class_log_probs(self.quantum(self.features(images)))
