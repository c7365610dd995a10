"""Seeded random circuits as a gate list, from which both a Qiskit circuit and a PennyLane twin are built.

An angle is a small expression of the inputs ``x`` and weights ``w`` written with ``+``, ``−`` and ``×``
only, so the same :func:`angle_value` evaluates it on Qiskit ``Parameter``s (giving a
``ParameterExpression``) and on torch tensors. Weights are deliberately reused by several gates and
angles include products such as the ZZ feature map's ``2(π − x_i)(π − x_j)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

from bridge.reference.models import QiskitModel, z_on

# name: (number of qubits, takes an angle)
GATES = {
    "rx": (1, True),
    "ry": (1, True),
    "rz": (1, True),
    "p": (1, True),
    "rzz": (2, True),
    "crx": (2, True),
    "cx": (2, False),
    "h": (1, False),
}


@dataclass(frozen=True)
class Angle:
    """``kind``: ``"lin"`` (``scale·v + offset`` of one variable), ``"sum"`` (``v + u``), ``"prod"`` (``v·u``)
    or ``"zz"`` (``2(π − x_i)(π − x_j)``); variables are ``("x", i)`` or ``("w", j)``."""

    kind: str
    variables: tuple[tuple[str, int], ...]
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class Gate:
    name: str
    wires: tuple[int, ...]
    angle: Angle | None = None


@dataclass(frozen=True)
class RandomCircuit:
    """A gate list on ``n_qubits`` with ``n_inputs`` inputs and ``n_weights`` weights, read out as ⟨Z_q⟩."""

    seed: int
    n_qubits: int
    n_inputs: int
    n_weights: int
    gates: tuple[Gate, ...]
    readout: tuple[int, ...]


def angle_value(angle: Angle, x: Any, w: Any) -> Any:
    """Evaluate ``angle`` on indexable inputs ``x`` and weights ``w`` (Qiskit parameters or tensors)."""

    def var(v: tuple[str, int]) -> Any:
        return x[v[1]] if v[0] == "x" else w[v[1]]

    if angle.kind == "lin":
        return angle.scale * var(angle.variables[0]) + angle.offset
    if angle.kind == "sum":
        return var(angle.variables[0]) + var(angle.variables[1])
    if angle.kind == "prod":
        return var(angle.variables[0]) * var(angle.variables[1])
    if angle.kind == "zz":
        return 2.0 * (math.pi - var(angle.variables[0])) * (math.pi - var(angle.variables[1]))
    raise ValueError(f"unknown angle kind {angle.kind!r}")


def random_circuit(seed: int, *, min_qubits: int = 2, max_qubits: int = 6) -> RandomCircuit:
    """A seeded random circuit: 2–6 qubits, every input embedded, weights reused, mixed angle kinds."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(min_qubits, max_qubits + 1))
    n_weights = int(rng.integers(2, n + 3))
    gates = [Gate("ry" if i % 2 else "rx", (i,), Angle("lin", (("x", i),))) for i in range(n)]
    names = list(GATES)
    for _ in range(int(rng.integers(3 * n, 5 * n + 1))):
        name = names[int(rng.integers(len(names)))]
        arity, has_angle = GATES[name]
        wires = tuple(int(q) for q in rng.choice(n, size=arity, replace=False))
        gates.append(Gate(name, wires, _random_angle(rng, n, n_weights) if has_angle else None))
    readout = tuple(range(min(n, 3)))
    return RandomCircuit(seed, n, n, n_weights, tuple(gates), readout)


def _random_angle(rng: np.random.Generator, n_inputs: int, n_weights: int) -> Angle:
    def weight() -> tuple[str, int]:
        return ("w", int(rng.integers(n_weights)))

    def inp() -> tuple[str, int]:
        return ("x", int(rng.integers(n_inputs)))

    kind = rng.choice(["lin", "lin", "sum", "prod", "zz"])
    if kind == "lin":
        return Angle("lin", (weight(),), float(rng.choice([1.0, 0.5, -2.0])), float(rng.choice([0.0, 0.3])))
    if kind == "sum":
        return Angle("sum", (weight(), inp()))
    if kind == "prod":
        return Angle("prod", (inp(), weight()))
    i, j = rng.choice(n_inputs, size=2, replace=n_inputs < 2)
    return Angle("zz", (("x", int(i)), ("x", int(j))))


def to_qiskit(spec: RandomCircuit) -> QiskitModel:
    """The Qiskit circuit of a random gate list (``rzz`` is PennyLane's ``IsingZZ``, ``p`` its ``PhaseShift``)."""
    x, w = ParameterVector("x", spec.n_inputs), ParameterVector("w", spec.n_weights)
    qc = QuantumCircuit(spec.n_qubits)
    for gate in spec.gates:
        args = [angle_value(gate.angle, x, w)] if gate.angle else []
        getattr(qc, gate.name)(*args, *gate.wires)
    observables: tuple[SparsePauliOp, ...] = tuple(z_on(q, spec.n_qubits) for q in spec.readout)
    return QiskitModel(qc, x, w, observables)
