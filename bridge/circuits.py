"""The circuit library, written once as PennyLane quantum functions.

Each factory returns a :class:`CircuitSpec`: the quantum function (first argument ``inputs``, a tensor
whose last dimension is ``n_inputs``; then one argument per entry of ``weight_shapes``), the number of
wires, and the number of expectation values it returns. Angles are in radians.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pennylane as qml


class QFunc:
    """A module-level quantum function with some keyword arguments fixed: picklable (``torch.save`` of a whole
    model works), and its signature is the function's without the fixed ones (what ``TorchLayer`` inspects).

    Example:
        >>> qfunc = QFunc(_angle_entangling, n_wires=4, n_outputs=4)
        >>> list(inspect.signature(qfunc).parameters)
        ['inputs', 'weights']
    """

    def __init__(self, function: Callable[..., Any], **fixed: Any) -> None:
        self.function = function
        self.fixed = fixed
        self.__name__ = function.__name__.lstrip("_")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs, **self.fixed)

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.function)
        return signature.replace(parameters=[p for n, p in signature.parameters.items() if n not in self.fixed])

    def __repr__(self) -> str:
        fixed = ", ".join(f"{k}={v!r}" for k, v in self.fixed.items())
        return f"QFunc({self.function.__name__}{', ' if fixed else ''}{fixed})"


@dataclass(frozen=True)
class CircuitSpec:
    """A quantum function plus what a layer needs to know about it.

    Attributes:
        name: a short name for messages and reprs.
        qfunc: ``qfunc(inputs, **weights) -> list of measurements``; ``inputs`` has shape
            ``(..., n_inputs)`` (a leading batch dimension is broadcast).
        n_wires: number of qubits.
        n_inputs: size of the last dimension of ``inputs``.
        n_outputs: number of expectation values returned.
        weight_shapes: shape of each trainable weight argument, ``{}`` when there is none.
    """

    name: str
    qfunc: Callable[..., Any]
    n_wires: int
    n_inputs: int
    n_outputs: int
    weight_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


def textbook_hry() -> CircuitSpec:
    """The Qiskit textbook's hybrid layer: ``H`` then ``RY(θ)`` on one qubit, θ the input.

    Returns ⟨Z⟩ = −sin θ, so P(1) = (1 + sin θ)/2. No trainable weights.
    """

    return CircuitSpec("textbook_hry", QFunc(_textbook_hry), n_wires=1, n_inputs=1, n_outputs=1)


def _textbook_hry(inputs):
    qml.Hadamard(wires=0)
    qml.RY(inputs[..., 0], wires=0)
    return [qml.expval(qml.PauliZ(0))]


def u3_rotation() -> CircuitSpec:
    """One qubit, ``U3(θ, φ, λ)|0⟩`` (the hackathon's "hello world"), read out as ⟨Z⟩ = cos θ.

    Weights: ``weights`` of shape ``(3,)`` = (θ, φ, λ). No inputs.
    """

    return CircuitSpec(
        "u3_rotation", QFunc(_u3_rotation), n_wires=1, n_inputs=0, n_outputs=1, weight_shapes={"weights": (3,)}
    )


def _u3_rotation(inputs, weights):
    qml.U3(weights[0], weights[1], weights[2], wires=0)
    return [qml.expval(qml.PauliZ(0))]


def ry_rotation() -> CircuitSpec:
    """One qubit, ``RY(θ)|0⟩`` with θ the input, read out as ⟨Z⟩ = cos θ. No weights (the meta-learning
    example's circuit: the angles of a whole batch of problems go in as one batch of inputs)."""

    return CircuitSpec("ry_rotation", QFunc(_ry_rotation), n_wires=1, n_inputs=1, n_outputs=1)


def _ry_rotation(inputs):
    qml.RY(inputs[..., 0], wires=0)
    return [qml.expval(qml.PauliZ(0))]


def angle_entangling(n_wires: int = 4, n_layers: int = 2, *, n_outputs: int | None = None) -> CircuitSpec:
    """RX angle embedding of ``n_wires`` features, then ``n_layers`` strongly entangling layers.

    Weights: ``weights`` of shape ``(n_layers, n_wires, 3)`` (Rot = RZ·RY·RZ angles).
    Returns ⟨Z_i⟩ for the first ``n_outputs`` wires (default: every wire).
    """
    outputs = n_wires if n_outputs is None else n_outputs
    if not 1 <= outputs <= n_wires:
        raise ValueError(f"n_outputs must be between 1 and n_wires={n_wires}, got {outputs}")

    return CircuitSpec(
        f"angle_entangling_{n_wires}q{n_layers}l",
        QFunc(_angle_entangling, n_wires=n_wires, n_outputs=outputs),
        n_wires=n_wires,
        n_inputs=n_wires,
        n_outputs=outputs,
        weight_shapes={"weights": (n_layers, n_wires, 3)},
    )


def _angle_entangling(inputs, weights, *, n_wires, n_outputs):
    qml.AngleEmbedding(inputs, wires=range(n_wires), rotation="X")
    qml.StronglyEntanglingLayers(weights, wires=range(n_wires))
    return [qml.expval(qml.PauliZ(w)) for w in range(n_outputs)]


def angle_entangling_zz(n_wires: int = 4, n_layers: int = 2) -> CircuitSpec:
    """RX angle embedding + ``n_layers`` strongly entangling layers, read out as every ⟨Z_i⟩ then every
    ⟨Z_i Z_j⟩ (i < j): ``n + n(n−1)/2`` values, ten for four wires (the ten-digit example's readout).

    Weights: ``weights`` of shape ``(n_layers, n_wires, 3)``.
    """
    n_pairs = n_wires * (n_wires - 1) // 2
    return CircuitSpec(
        f"angle_entangling_zz_{n_wires}q{n_layers}l",
        QFunc(_angle_entangling_zz, n_wires=n_wires),
        n_wires=n_wires,
        n_inputs=n_wires,
        n_outputs=n_wires + n_pairs,
        weight_shapes={"weights": (n_layers, n_wires, 3)},
    )


def _angle_entangling_zz(inputs, weights, *, n_wires):
    pairs = [(i, j) for i in range(n_wires) for j in range(i + 1, n_wires)]
    qml.AngleEmbedding(inputs, wires=range(n_wires), rotation="X")
    qml.StronglyEntanglingLayers(weights, wires=range(n_wires))
    return [qml.expval(qml.PauliZ(w)) for w in range(n_wires)] + [
        qml.expval(qml.PauliZ(i) @ qml.PauliZ(j)) for i, j in pairs
    ]


def zz_feature_map(inputs: Any, wires: Sequence[int], reps: int = 2) -> None:
    """Qiskit's ``ZZFeatureMap`` (full entanglement) rebuilt in PennyLane.

    Each repetition: ``H`` on every wire, ``P(2 x_i)`` on wire i, then for every pair i < j
    ``CX(i, j) · P(2 (π − x_i)(π − x_j)) on j · CX(i, j)``.
    """
    n = len(wires)
    for _ in range(reps):
        for i in range(n):
            qml.Hadamard(wires=wires[i])
            qml.PhaseShift(2.0 * inputs[..., i], wires=wires[i])
        for i in range(n):
            for j in range(i + 1, n):
                qml.CNOT(wires=[wires[i], wires[j]])
                qml.PhaseShift(2.0 * (math.pi - inputs[..., i]) * (math.pi - inputs[..., j]), wires=wires[j])
                qml.CNOT(wires=[wires[i], wires[j]])


def real_amplitudes(weights: Any, wires: Sequence[int]) -> None:
    """Qiskit's ``RealAmplitudes`` ansatz (``reverse_linear`` entanglement) rebuilt in PennyLane.

    ``weights`` has shape ``(reps + 1, n)``: a layer of ``RY`` per row, with a ladder of CNOTs
    ``CX(n−2, n−1), …, CX(0, 1)`` between consecutive rows.
    """
    n = len(wires)
    for layer in range(weights.shape[0]):
        if layer > 0:
            for i in reversed(range(n - 1)):
                qml.CNOT(wires=[wires[i], wires[i + 1]])
        for i in range(n):
            qml.RY(weights[layer, i], wires=wires[i])


def zz_real_amplitudes(n_wires: int = 2, reps: int = 2, *, feature_reps: int = 2) -> CircuitSpec:
    """ZZ feature map + RealAmplitudes, read out as ⟨Z⊗…⊗Z⟩ (qiskit-machine-learning's default).

    Weights: ``weights`` of shape ``(reps + 1, n_wires)``. One output.
    """

    return CircuitSpec(
        f"zz_real_amplitudes_{n_wires}q{reps}r",
        QFunc(_zz_real_amplitudes, n_wires=n_wires, feature_reps=feature_reps),
        n_wires=n_wires,
        n_inputs=n_wires,
        n_outputs=1,
        weight_shapes={"weights": (reps + 1, n_wires)},
    )


def _zz_real_amplitudes(inputs, weights, *, n_wires, feature_reps):
    zz_feature_map(inputs, range(n_wires), feature_reps)
    real_amplitudes(weights, range(n_wires))
    return [qml.expval(qml.prod(*(qml.PauliZ(w) for w in range(n_wires))))]


def qaoa_state(edges: Sequence[tuple[int, int]], n_wires: int, gammas: Any, betas: Any) -> None:
    """The QAOA max-cut state: ``H`` on every wire, then per layer l ``IsingZZ(γ_l)`` on every edge and
    ``RX(2 β_l)`` on every wire. ``gammas`` and ``betas`` have shape ``(depth,)``."""
    for w in range(n_wires):
        qml.Hadamard(wires=w)
    for layer in range(len(gammas)):
        for i, j in edges:
            qml.IsingZZ(gammas[layer], wires=[i, j])
        for w in range(n_wires):
            qml.RX(2.0 * betas[layer], wires=w)


def graph_wires(edges: Sequence[tuple[int, int]]) -> int:
    """Number of nodes of a graph whose nodes are ``0..n-1``, each on at least one edge.

    Raises:
        ValueError: the nodes are not ``0..n-1``.
    """
    nodes = sorted({v for e in edges for v in e})
    if nodes != list(range(len(nodes))):
        raise ValueError(f"graph nodes must be 0..n-1, got {nodes}")
    return len(nodes)


def qaoa_maxcut(edges: Sequence[tuple[int, int]], depth: int = 1) -> CircuitSpec:
    """QAOA for max-cut on a graph given by its edges (:func:`qaoa_state`); no inputs (``n_inputs=0``).

    Weights: ``gammas`` and ``betas``, both of shape ``(depth,)``. Returns ⟨Z_i Z_j⟩ for every edge, so the
    expected cut size is Σ (1 − ⟨Z_i Z_j⟩)/2.
    """
    n_wires = graph_wires(edges)
    return CircuitSpec(
        f"qaoa_maxcut_{n_wires}n{depth}p",
        QFunc(_qaoa_maxcut, edges=tuple(map(tuple, edges)), n_wires=n_wires),
        n_wires=n_wires,
        n_inputs=0,
        n_outputs=len(edges),
        weight_shapes={"gammas": (depth,), "betas": (depth,)},
    )


def _qaoa_maxcut(inputs, gammas, betas, *, edges, n_wires):
    qaoa_state(edges, n_wires, gammas, betas)
    return [qml.expval(qml.PauliZ(i) @ qml.PauliZ(j)) for i, j in edges]
