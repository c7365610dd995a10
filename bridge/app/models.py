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
    """The Qiskit textbook's hybrid classifier for two classes, made robust to the seed.

    The trunk (without dropout) reduces an image to one number x; the angle θ = (π/2)·tanh(x) enters the 1-qubit
    circuit ``H · RY(θ)``, which gives ⟨Z⟩ = −sin θ, and p = P(|1⟩) = (1 − ⟨Z⟩)/2 = (1 + sin θ)/2 is the probability
    of class 1. Output: log-probabilities ``(batch, 2)`` = log(1 − p, p), for ``F.nll_loss``.

    Why the bound: −sin θ has period 2π and is monotone only on [−π/2, π/2]. The textbook feeds the trunk's
    output in as θ unbounded; a quarter to a third of the training images sat beyond ±π/2, and once one lands
    more than π from its class's optimum (±π/2) the loss's gradient drives it on to the next period's optimum,
    which the trunk reaches by scaling every angle up, so the classes swap. Measured on seed 2 (embedded
    mnist01, default.qubit): |θ| ≤ 3.5 through epoch 4 (training accuracy 0.995), then a "1" at θ = 5.31
    (past 3π/2, loss 2.44) at step 931, |θ| up to 39 by step 975, training accuracy 0.845 in epoch 5 and test
    accuracy 0.36. Inside (−π/2, π/2) the probability of the right class rises monotonically with the trunk's
    output for every image, so there is no period to jump to. Why no dropout: it jitters the single number the
    whole image is reduced to (mnist37, seeds 0–9: test accuracy 0.97–0.99 with it, 0.98–1.0 without).

    Args:
        profile: device profile of the quantum layer (name, path or :class:`~bridge.profiles.Profile`).
        classical: replace the circuit by its :class:`ClassicalStandIn` (the ablation; it gets the same bounded
            input).
        replica: the textbook's network as published: dropout, and the trunk's output as θ unbounded (it
            collapses on some seeds, see above).
    """

    def __init__(self, profile: str | Profile | None = None, classical: bool = False, replica: bool = False) -> None:
        super().__init__()
        self.replica = replica
        self.features = TextbookFeatures(1, dropout=replica)
        self.quantum = quantum_or_classical(textbook_hry(), profile, classical)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return two_class_log_probs(self.quantum(textbook_angle(self.features(images), self.replica)))


class MultiClassHybridNet(nn.Module):
    """The textbook trunk (without dropout) ending in ``k`` features, bounded to angles in (0, π), that feed a
    ``k``-qubit circuit; its ``k`` values ⟨Z_i⟩, times a learned temperature, are the class logits (the hackathon
    project's ``fc2 → 3 → circuit``).

    The circuit: RX angle embedding + 2 strongly entangling layers. Output: log-probabilities ``(batch, k)``.
    The RX embedding is 2π-periodic; over (0, π) its qubit's Bloch vector turns half a circle, so no two inputs
    in range encode the same state. Fed in unbounded (``replica=True``, with dropout, as the project did) the
    angles ran off on seed 3 of mnist3: median |x| 6 within 300 steps and hundreds by step 600, where every
    image's angles are as good as random, ⟨Z_i⟩ ≈ 0 for every class and the loss stayed at ln 3 (test accuracy
    0.34; seeds 0–2 and 4 reached 0.977–0.983). Bounded and without dropout: 0.970–0.983 on seeds 0–4.
    """

    def __init__(
        self, n_classes: int, profile: str | Profile | None = None, classical: bool = False, replica: bool = False
    ) -> None:
        super().__init__()
        self.replica = replica
        self.features = TextbookFeatures(n_classes, dropout=replica)
        self.quantum = quantum_or_classical(angle_entangling(n_classes, 2), profile, classical)
        self.temperature = nn.Parameter(torch.tensor(3.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.features(images)
        angles = x if self.replica else bounded_angles(x, 0.0, math.pi)
        return F.log_softmax(self.temperature * self.quantum(angles), dim=-1)


class TenDigitHybridNet(nn.Module):
    """All ten digits through four qubits: the textbook trunk (without dropout) → 4 angles bounded to (0, π) →
    RX embedding + 2 strongly entangling layers → the ten values ⟨Z_i⟩ and ⟨Z_i Z_j⟩ → ``Linear(10, 10)`` logits.

    Output: log-probabilities ``(batch, 10)``. Measured with backprop on default.qubit (seed 0, 2 epochs):
    0.44 test accuracy as the textbook trunk feeds the angles; 0.63 with a π/2 offset (the trunk's outputs
    start near 0, where ∂cos x/∂x of the RX embedding vanishes); 0.81 without the trunk's dropout, whose noise
    a 4-wide bottleneck cannot average out (0.93 after 4 epochs). The angles are π/2 + (π/2)·tanh(x): they start
    at that π/2 and cannot run past a period of the embedding (see :class:`MultiClassHybridNet`).

    The readout starts at 5× PyTorch's default weights. From the default start the ten values in [−1, 1] give
    logits within about ±1, so the loss pushed the trunk into tanh's flat ends to part the classes, and some
    seeds stalled: 5 epochs gave 0.764–0.937 test accuracy on seeds 0–4 (seed 2 0.839 after 10 epochs, with
    training accuracy 0.83). With the ×5 start: 0.921–0.965 on seeds 0–9 (backprop on default.qubit, the
    example's settings).
    """

    def __init__(self, profile: str | Profile | None = None, classical: bool = False) -> None:
        super().__init__()
        circuit = angle_entangling_zz(4, 2)
        self.features = TextbookFeatures(circuit.n_inputs, dropout=False)
        self.quantum = quantum_or_classical(circuit, profile, classical)
        self.readout = nn.Linear(circuit.n_outputs, 10)
        with torch.no_grad():
            self.readout.weight.mul_(5.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        angles = bounded_angles(self.features(images), 0.0, math.pi)
        return F.log_softmax(self.readout(self.quantum(angles)), dim=-1)


class FashionHybridNet(nn.Module):
    """The Fashion-MNIST student project's network, made robust to the seed: trunk (without dropout) →
    ``Linear(…, 2)`` → two angles bounded to (0, π/2) → 2-qubit ZZ feature map + RealAmplitudes (reps 2) →
    ``Linear(1, 1)`` (starting at 5·z) → sigmoid = p(class 1). Output: log(1 − p, p) ``(batch, 2)``.

    The RealAmplitudes weights start at 0; the circuit's output is then cos 2x₀ · cos 2x₁ (the ZZ term's phase
    cancels), monotone in each input on [0, π/2]. The inputs x_i = (π/4)(1 + tanh u_i) stay in that range and
    start at its middle (output ≈ 0). The project fed the trunk's outputs u in unbounded: they start near 0, where
    the output is at its maximum 1 for every image and even in u, so the classes can part only by |u|; they then
    left for |u| of several radians, where the ZZ term turns the output by ≈ 2π per radian of input and it
    separates nothing. Measured on seed 0: output 0.92–1.0 for both classes over the first 100 steps, inputs up to
    (−6.9, 9.1) by step 170 and |u| ≈ 50–100 in the second epoch, training loss 0.729, 0.711, 0.699 (ln 2 = 0.693)
    and test accuracy 0.47. (With a uniform [0, 2π) start of the RealAmplitudes weights 4 of 6 runs measured
    stayed at 0.49–0.74.)

    Bounded alone it learned on every seed but fitted its training images loosely (eval-mode training accuracy
    0.961–0.987, test 0.96–0.99 on seeds 0–9): the readout's scale, from U(−1, 1), grew only to ≈ 2 in 3,000 Adam
    steps, capping p at ≈ 0.9, so the right images kept pushing the trunk into tanh's flat ends, where the wrong
    ones get no gradient. The readout starts at weight 5, bias 0 (p up to 0.993), the trunk has no dropout, and
    the example's learning rate decays by 0.7 per epoch: test accuracy 0.985–1.0 on seeds 0–9.

    Args:
        profile: device profile of the quantum layer.
        classical: replace the circuit by its :class:`ClassicalStandIn` (it gets the same bounded inputs).
        replica: the network as before issue #23: dropout, the trunk's outputs unbounded and the readout from
            PyTorch's default start (the RealAmplitudes weights from 0 either way); it fails on some seeds.
    """

    def __init__(self, profile: str | Profile | None = None, classical: bool = False, replica: bool = False) -> None:
        super().__init__()
        self.replica = replica
        self.features = TextbookFeatures(2, dropout=replica)
        self.quantum = quantum_or_classical(zz_real_amplitudes(2, 2), profile, classical, init_method=nn.init.zeros_)
        self.readout = nn.Linear(1, 1)
        if not replica:
            nn.init.constant_(self.readout.weight, 5.0)
            nn.init.zeros_(self.readout.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.features(images)
        angles = x if self.replica else bounded_angles(x, 0.0, math.pi / 2)
        return log_two_class(torch.sigmoid(self.readout(self.quantum(angles))))


def bounded_angles(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map any real ``x`` into the open interval (``low``, ``high``): ``low + (high − low)(1 + tanh x)/2``,
    the middle of the interval at ``x = 0``."""
    return low + (high - low) * (1.0 + torch.tanh(x)) / 2.0


def textbook_angle(x: torch.Tensor, replica: bool = False) -> torch.Tensor:
    """The angle θ entering ``H · RY(θ)``: (π/2)·tanh(x) within (−π/2, π/2), where ⟨Z⟩ = −sin θ is monotone;
    ``x`` itself for the textbook's ``replica``."""
    return x if replica else bounded_angles(x, -math.pi / 2, math.pi / 2)


def two_class_log_probs(z: torch.Tensor) -> torch.Tensor:
    """⟨Z⟩ ``(batch, 1)`` → log(1 − p, p) ``(batch, 2)`` with p = P(|1⟩) = (1 − ⟨Z⟩)/2."""
    return log_two_class((1.0 - z) / 2.0)


def log_two_class(p1: torch.Tensor) -> torch.Tensor:
    """P(class 1) ``(batch, 1)`` → log(1 − p, p) ``(batch, 2)``, clamped away from log 0."""
    return torch.log(torch.cat([1.0 - p1, p1], dim=-1).clamp_min(1e-12))


class ReferenceTextbookNet(nn.Module):
    """:class:`TextbookHybridNet` with the circuit run by the PennyLane-free reference on Aer (the same trunk and
    angle; the textbook's with ``replica=True``)."""

    def __init__(self, replica: bool = False) -> None:
        super().__init__()
        from bridge.reference import ReferenceLayer, ReferenceQNN
        from bridge.reference.models import textbook_hry as qiskit_textbook_hry

        model = qiskit_textbook_hry()
        self.replica = replica
        self.features = TextbookFeatures(1, dropout=replica)
        self.quantum = ReferenceLayer(ReferenceQNN(model.circuit, model.inputs, model.weights, list(model.observables)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return two_class_log_probs(self.quantum(textbook_angle(self.features(images), self.replica)))
