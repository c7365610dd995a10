"""A PennyLane tape → a Qiskit circuit, written here from the gates' definitions (not pennylane-qiskit's converter,
whose output is what verification checks).

The tape is decomposed by PennyLane into :data:`TRANSLATED` gates. Every parametric gate occurrence ``k`` becomes a
Qiskit gate whose angle is its own ``Parameter`` ``φ[k]``; the angles' values and their derivatives with respect to
the model's inputs and weights (the chain rule through templates and angle expressions) come from
:func:`bridge.verification.shot_noise.angle_jacobian`. Measurements become ``SparsePauliOp`` observables by a NumPy
Pauli decomposition: ``expval`` of any observable with a matrix, ``probs`` (projectors), and ``var`` (as ``O`` and
``O²``). What cannot be translated raises :class:`Untranslatable`, naming it.

Qubit order: PennyLane wire ``i`` is Qiskit qubit ``i``; Qiskit's Pauli labels read right to left.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

from bridge.exceptions import BridgeError
from bridge.verification.shot_noise import TWO_TERM_GATES

# PennyLane gate → how to append it (``qiskit.QuantumCircuit`` method, with the angle's sign where it differs)
_ROTATIONS = {
    "RX": ("rx", 1.0),
    "RY": ("ry", 1.0),
    "RZ": ("rz", 1.0),
    "PhaseShift": ("p", 1.0),
    "IsingXX": ("rxx", 1.0),
    "IsingYY": ("ryy", 1.0),
    "IsingZZ": ("rzz", 1.0),
}
_FIXED = {
    "PauliX": "x",
    "PauliY": "y",
    "PauliZ": "z",
    "Hadamard": "h",
    "S": "s",
    "T": "t",
    "SX": "sx",
    "CNOT": "cx",
    "CZ": "cz",
    "CY": "cy",
    "SWAP": "swap",
    "Toffoli": "ccx",
    "Identity": "id",
}
TRANSLATED = frozenset(_ROTATIONS) | frozenset(_FIXED) | {"GlobalPhase", "Adjoint(S)", "Adjoint(T)", "Adjoint(SX)"}
_PAULIS = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


class Untranslatable(BridgeError):
    """A gate or measurement the independent translation does not cover (named in the verification report)."""


@dataclass(frozen=True)
class Translation:
    """A tape as a Qiskit circuit with one parameter per angle occurrence.

    Attributes:
        circuit: the circuit; its parameters are ``phis`` (one per parametric gate occurrence, in tape order).
        phis: the angle parameters.
        observables: the measured observables, one per output column (``probs`` expanded, ``var`` as ``O``).
        squares: per output column, the index in ``observables`` of ``O²`` for a variance, else ``None``.
    """

    circuit: QuantumCircuit
    phis: ParameterVector
    observables: tuple[SparsePauliOp, ...]
    squares: tuple[int | None, ...]


def stop(op: qml.operation.Operator) -> bool:
    """Where the translation's decomposition stops (give it to ``angle_jacobian`` too, so the angles line up)."""
    return op.name in TRANSLATED


def translate(tape: qml.tape.QuantumScript, n_wires: int) -> Translation:
    """Translate ``tape`` (wires ``0..n_wires-1``) independently of pennylane-qiskit.

    Raises:
        Untranslatable: a gate PennyLane cannot decompose into :data:`TRANSLATED`, or a measurement other than an
            ``expval``, ``var`` or ``probs``.
    """
    (expanded,), _ = qml.transforms.decompose(tape, stopping_condition=stop)
    n_params = sum(1 for op in expanded.operations if op.name in TWO_TERM_GATES for _ in op.data)
    phis = ParameterVector("φ", n_params)  # in the order of bridge.verification.shot_noise.angle_jacobian(..., stop)
    circuit = QuantumCircuit(n_wires)
    k = 0
    for op in expanded.operations:
        wires = [int(w) for w in op.wires]
        if op.name == "GlobalPhase":  # a global phase changes no result: its φ stays unused
            k += 1
            continue
        if op.name in _ROTATIONS:
            method, sign = _ROTATIONS[op.name]
            getattr(circuit, method)(sign * phis[k], *wires)
            k += 1
        elif op.name in _FIXED:
            getattr(circuit, _FIXED[op.name])(*wires)
        elif op.name.startswith("Adjoint("):
            getattr(circuit, _FIXED[op.name[8:-1]] + "dg")(*wires)
        else:
            raise Untranslatable(
                f"gate {op.name} (on wires {wires}) has no independent translation; it decomposes "
                f"into none of {', '.join(sorted(TRANSLATED))}"
            )
    observables: list[SparsePauliOp] = []
    squares: list[int | None] = []
    extra: list[SparsePauliOp] = []
    for m in expanded.measurements:
        for obs, square in _observables(m, n_wires):
            observables.append(obs)
            if square is not None:
                extra.append(square)
                squares.append(-len(extra))  # resolved below, after the output columns
            else:
                squares.append(None)
    n_outputs = len(observables)
    squares = [None if s is None else n_outputs + (-s - 1) for s in squares]
    return Translation(circuit, phis, tuple(observables + extra), tuple(squares))


def _observables(m: Any, n_wires: int) -> list[tuple[SparsePauliOp, SparsePauliOp | None]]:
    """Output columns of one measurement: ``(O, None)`` per column, ``(O, O²)`` for a variance."""
    if isinstance(m, ProbabilityMP) and m.obs is None:
        wires = [int(w) for w in (m.wires or range(n_wires))]
        out = []
        for bits in itertools.product((0, 1), repeat=len(wires)):  # |b⟩⟨b| = ⊗ (I ± Z)/2, wires[0] first
            matrix = np.ones((1, 1))
            for b in bits:
                matrix = np.kron(matrix, np.diag([1.0, 0.0]) if b == 0 else np.diag([0.0, 1.0]))
            out.append((pauli_decompose(matrix, wires, n_wires), None))
        return out
    if isinstance(m, ExpectationMP | VarianceMP) and m.obs is not None:
        wires = [int(w) for w in m.obs.wires]
        matrix = np.asarray(qml.matrix(m.obs, wire_order=wires))
        obs = pauli_decompose(matrix, wires, n_wires)
        square = pauli_decompose(matrix @ matrix, wires, n_wires) if isinstance(m, VarianceMP) else None
        return [(obs, square)]
    raise Untranslatable(f"measurement {m} has no independent translation (expval, var and probs do)")


def pauli_decompose(matrix: np.ndarray, wires: Sequence[int], n_wires: int) -> SparsePauliOp:
    """A Hermitian ``matrix`` on ``wires`` (its first wire the most significant, PennyLane's order) as a Pauli sum
    on ``n_wires`` qubits: coefficients ``tr(M P)/2^k`` for every Pauli word ``P``."""
    k = len(wires)
    labels, coeffs = [], []
    for word in itertools.product("IXYZ", repeat=k):
        pauli = np.ones((1, 1))
        for letter in word:
            pauli = np.kron(pauli, _PAULIS[letter])
        c = np.trace(matrix @ pauli).real / 2**k
        if abs(c) > 1e-12:
            chars = ["I"] * n_wires
            for letter, wire in zip(word, wires, strict=True):
                chars[n_wires - 1 - wire] = letter
            labels.append("".join(chars))
            coeffs.append(c)
    if not labels:
        return SparsePauliOp("I" * n_wires, 0.0)
    return SparsePauliOp(labels, np.asarray(coeffs))
