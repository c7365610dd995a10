"""The library's models built again with Qiskit alone (its circuit library where it has one).

Each returns a :class:`QiskitModel`. Conventions shared with :mod:`bridge.circuits`: input ``i`` is
``x[i]``; weights are the PennyLane weight tensors flattened in row-major order (for several tensors,
in the order of their names in ``weight_shapes``); observable ``m`` is output ``m``. Qiskit strings
are little-endian: ``"IZ"`` is Z on qubit 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp


@dataclass(frozen=True)
class QiskitModel:
    """A parameterized circuit with its input and weight vectors and its observables."""

    circuit: QuantumCircuit
    inputs: ParameterVector
    weights: ParameterVector
    observables: tuple[SparsePauliOp, ...]


def z_on(qubit: int, n_qubits: int) -> SparsePauliOp:
    """Pauli Z on one qubit of ``n_qubits``."""
    return SparsePauliOp("".join("Z" if q == qubit else "I" for q in reversed(range(n_qubits))))


def textbook_hry() -> QiskitModel:
    """H then RY(x₀) on one qubit, ⟨Z⟩."""
    x, w = ParameterVector("x", 1), ParameterVector("w", 0)
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(x[0], 0)
    return QiskitModel(qc, x, w, (SparsePauliOp("Z"),))


def angle_entangling(n_qubits: int = 4, n_layers: int = 2, n_outputs: int | None = None) -> QiskitModel:
    """RX(x_i) on each qubit, then strongly entangling layers: RZ(w₀) RY(w₁) RZ(w₂) per qubit and a ring of
    CNOTs ``i → (i + r) mod n`` with ``r = l mod (n − 1) + 1`` in layer ``l``; ⟨Z_i⟩ for the first outputs."""
    x, w = ParameterVector("x", n_qubits), ParameterVector("w", n_layers * n_qubits * 3)
    qc = QuantumCircuit(n_qubits)
    for i in range(n_qubits):
        qc.rx(x[i], i)
    for layer in range(n_layers):
        for i in range(n_qubits):
            k = (layer * n_qubits + i) * 3
            qc.rz(w[k], i)
            qc.ry(w[k + 1], i)
            qc.rz(w[k + 2], i)
        if n_qubits > 1:
            r = layer % (n_qubits - 1) + 1
            for i in range(n_qubits):
                qc.cx(i, (i + r) % n_qubits)
    outputs = n_qubits if n_outputs is None else n_outputs
    return QiskitModel(qc, x, w, tuple(z_on(i, n_qubits) for i in range(outputs)))


def zz_real_amplitudes(n_qubits: int = 2, reps: int = 2) -> QiskitModel:
    """Qiskit's ``zz_feature_map`` (full entanglement, 2 reps) + ``real_amplitudes``, ⟨Z⊗…⊗Z⟩."""
    feature_map = zz_feature_map(n_qubits, reps=2, entanglement="full")
    ansatz = real_amplitudes(n_qubits, reps=reps)
    x, w = ParameterVector("x", n_qubits), ParameterVector("w", ansatz.num_parameters)
    qc = feature_map.assign_parameters(list(x)).compose(ansatz.assign_parameters(list(w)))
    return QiskitModel(qc, x, w, (SparsePauliOp("Z" * n_qubits),))


def qaoa_maxcut(edges: Sequence[tuple[int, int]], depth: int = 1) -> QiskitModel:
    """H on every node, then per layer RZZ(γ_l) on every edge and RX(2β_l) on every node; ⟨Z_i Z_j⟩ per edge.

    Weights: ``[β_0 … β_{p−1}, γ_0 … γ_{p−1}]`` (PennyLane's ``betas`` then ``gammas``, sorted by name).
    """
    n = 1 + max(max(e) for e in edges)
    x, w = ParameterVector("x", 0), ParameterVector("w", 2 * depth)
    betas, gammas = w[:depth], w[depth:]
    qc = QuantumCircuit(n)
    qc.h(range(n))
    for layer in range(depth):
        for i, j in edges:
            qc.rzz(gammas[layer], i, j)
        for q in range(n):
            qc.rx(2 * betas[layer], q)
    observables = tuple(
        SparsePauliOp("".join("Z" if q in (i, j) else "I" for q in reversed(range(n)))) for i, j in edges
    )
    return QiskitModel(qc, x, w, observables)


LIBRARY = {
    "textbook_hry": textbook_hry,
    "angle_entangling": lambda: angle_entangling(4, 2),
    "zz_real_amplitudes": lambda: zz_real_amplitudes(2, 2),
    "qaoa_maxcut": lambda: qaoa_maxcut([(0, 1), (1, 2), (2, 3), (3, 0)], depth=2),
}

__all__ = ["LIBRARY", "QiskitModel", "angle_entangling", "qaoa_maxcut", "textbook_hry", "z_on", "zz_real_amplitudes"]
