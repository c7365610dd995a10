"""Tape structure: what stays fixed across a training run (gates, wires, measurements) and what varies.

A tape is split into a hashable *structure key* and a matrix of *angle values*. Tapes with equal keys
share one parameterized Qiskit circuit (built and transpiled once), and their values become rows of one
primitive PUB. Angles of the gates in :data:`ANGLE_GATES` are circuit parameters; every other datum
(a unitary matrix, a state vector) is a constant of the structure and part of its key.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.wires import Wires
from pennylane_qiskit.converter import QISKIT_OPERATION_MAP
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

# PennyLane gates whose every datum is an angle in radians, mapped to Qiskit gates that take Parameters.
# Controlled rotations are left out on purpose: Aer 0.17 ignores `parameter_binds` of a parametric
# crx/cry/crz/cp (it runs one experiment with unbound angles), so the device has PennyLane decompose them.
ANGLE_GATES = frozenset(
    {"RX", "RY", "RZ", "PhaseShift", "U1", "U2", "U3", "IsingXX", "IsingYY", "IsingZZ", "GlobalPhase"}
)
DECOMPOSED_GATES = frozenset({"CRX", "CRY", "CRZ", "CPhase", "ControlledPhaseShift"})


@dataclass(frozen=True)
class TapeValues:
    """The varying part of a tape.

    Attributes:
        values: angles, shape ``(rows, n_params)``; ``rows`` is the broadcast batch size or 1.
        batch_size: the tape's broadcast batch size, ``None`` when not broadcast.
    """

    values: np.ndarray
    batch_size: int | None


def on_device_indices(tape: qml.tape.QuantumScript, wires: Wires) -> qml.tape.QuantumScript:
    """``tape`` with its wires relabelled ``0..n-1`` in the device's wire order (its trainable parameters kept)."""
    if wires.labels == tuple(range(len(wires))):
        return tape
    (mapped,), _ = qml.map_wires(tape, {w: i for i, w in enumerate(wires)})
    mapped.trainable_params = tape.trainable_params
    return mapped


def structure_key(tape: qml.tape.QuantumScript, kind: str) -> Hashable:
    """A hashable key equal for tapes that differ only in the angles of :data:`ANGLE_GATES`.

    Args:
        tape: a tape whose wires are device indices ``0..n-1``.
        kind: how it will run (``"estimator"``, ``"sampler"``, ``"state"``), part of the key.
    """
    ops: list[tuple[Any, ...]] = []
    for op in tape.operations:
        if op.name in ANGLE_GATES:
            ops.append((op.name, tuple(op.wires)))
        else:
            constants = tuple((np.shape(d), np.asarray(d).tobytes()) for d in op.data)
            ops.append((op.name, tuple(op.wires), constants, repr(op.hyperparameters) if op.hyperparameters else ""))
    measurements = tuple(m.hash for m in tape.measurements)
    return kind, tuple(ops), measurements, tape.shots


def tape_values(tape: qml.tape.QuantumScript) -> TapeValues:
    """The angles of the tape's :data:`ANGLE_GATES`, in gate order, one row per broadcast sample."""
    batch = tape.batch_size
    rows = batch or 1
    columns = [
        np.broadcast_to(np.asarray(d, dtype=float), (rows,))
        for op in tape.operations
        if op.name in ANGLE_GATES
        for d in op.data
    ]
    values = np.stack(columns, axis=1) if columns else np.zeros((rows, 0))
    return TapeValues(values, batch)


def parameterized_circuit(
    tape: qml.tape.QuantumScript, n_qubits: int, *, measure: bool, extra_ops: Sequence[qml.operation.Operator] = ()
) -> QuantumCircuit:
    """The Qiskit circuit of ``tape`` with a ``ParameterVector`` ``θ`` in place of the angles.

    Qubit ``i`` of the circuit is device wire index ``i`` (Qiskit's little-endian bit order is undone
    when results are read). ``extra_ops`` (diagonalizing gates) are appended with constant data;
    ``measure`` adds a measurement of every qubit into a register named ``c``.
    """
    n_params = sum(len(op.data) for op in tape.operations if op.name in ANGLE_GATES)
    theta = ParameterVector("θ", n_params)
    qreg = QuantumRegister(n_qubits, "q")
    circuit = QuantumCircuit(qreg)
    k = 0
    for op in tape.operations:
        if op.name in ANGLE_GATES:
            _append(circuit, qreg, op, list(theta[k : k + len(op.data)]))
            k += len(op.data)
        else:
            _append(circuit, qreg, op, [np.asarray(d).tolist() for d in op.data])
    for op in extra_ops:
        _append(circuit, qreg, op, [np.asarray(d).tolist() for d in op.data])
    if measure:
        creg = ClassicalRegister(n_qubits, "c")
        circuit.add_register(creg)
        circuit.measure(qreg, creg)
    return circuit


def _append(circuit: QuantumCircuit, qreg: QuantumRegister, op: qml.operation.Operator, args: list) -> None:
    name = op.name
    wires = [qreg[int(w)] for w in op.wires]
    if name == "GlobalPhase":  # PennyLane: exp(-iφ); a circuit's global_phase θ: exp(iθ) (Aer has no gate)
        circuit.global_phase -= args[0]
        return
    if name in ("QubitUnitary", "StatePrep"):
        wires = list(reversed(wires))  # Qiskit reads matrices and vectors little-endian
    if name == "Barrier":
        args = [len(wires)]
    circuit.append(QISKIT_OPERATION_MAP[name](*args), wires)


def pauli_observable(obs: qml.operation.Operator, n_qubits: int) -> SparsePauliOp:
    """``obs`` (with a Pauli representation, wires ``0..n-1``) as a ``SparsePauliOp`` on ``n_qubits``."""
    labels, coeffs = [], []
    for word, coeff in obs.pauli_rep.items():
        chars = ["I"] * n_qubits
        for wire, pauli in word.items():
            chars[n_qubits - 1 - int(wire)] = pauli
        labels.append("".join(chars))
        coeffs.append(coeff)
    if not labels:
        labels, coeffs = ["I" * n_qubits], [0.0]
    return SparsePauliOp(labels, np.asarray(coeffs, dtype=complex)).simplify()
