"""Primitive outputs → PennyLane results: values of every measurement, and Jacobians from the rows of the
parameter-shift rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices.qubit import measure
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP
from pennylane.wires import Wires

from bridge.qiskit.compile import Compiled
from bridge.qiskit.shift import ShiftPlan
from bridge.qiskit.structure import TapeValues


def _per_measurement(
    kind: str, measurements: Sequence[Any], output: np.ndarray, shots: slice = slice(None)
) -> list[np.ndarray]:
    """Each measurement of a ``"state"``, ``"counts"`` or ``"samples"`` tape, for every row: arrays ``(rows, ...)``.

    Exact states and samples are read by PennyLane's own functions (``measure``, ``process_samples``, as its
    ``default.qubit`` does); counts by :func:`_from_counts`, one matrix product for all rows.
    """
    if kind == "state":
        n_qubits = int(np.log2(output.shape[1]))
        states = output.reshape((output.shape[0], *[2] * n_qubits))
        if output.shape[0] > 1:
            return [np.asarray(measure(m, states, is_state_batched=True)) for m in measurements]
        return [np.asarray(measure(m, states[0]))[None] for m in measurements]
    if kind == "counts":
        return [_from_counts(m, output) for m in measurements]
    wires = Wires(range(output.shape[2]))
    if output.shape[0] > 1:  # process_samples takes a leading batch (row) dimension of size > 1
        return [m.process_samples(output[:, shots], wires) for m in measurements]
    values = [m.process_samples(output[0, shots], wires) for m in measurements]
    return [[v] if isinstance(v, dict) else np.asarray(v)[None] for v in values]  # type: ignore[misc]


def basis_eigvals(observable: Any, n_wires: int) -> np.ndarray:
    """The eigenvalue of a diagonalized observable on each basis state of ``n_wires`` wires ``(2**n,)`` (basis index
    with wire 0 most significant), from its eigenvalues on its own wires (PennyLane's order)."""
    wires = [int(w) for w in observable.wires]
    eigvals = np.real(np.asarray(observable.eigvals()))
    basis = np.arange(2**n_wires)
    sub = np.zeros_like(basis)
    for w in wires:  # the observable's own basis index, its first wire most significant
        sub = (sub << 1) | ((basis >> (n_wires - 1 - w)) & 1)
    return eigvals[sub]


def marginal(counts: np.ndarray, wires: Sequence[int]) -> np.ndarray:
    """Counts ``(rows, 2**n)`` summed over the wires not in ``wires`` → ``(rows, 2**len(wires))``, in their order."""
    rows, size = counts.shape
    n = int(np.log2(size))
    table = counts.reshape(rows, *[2] * n)
    kept = [int(w) for w in wires]
    summed = table.sum(axis=tuple(1 + w for w in range(n) if w not in kept))
    order = sorted(kept)
    return summed.transpose(0, *[1 + order.index(w) for w in kept]).reshape(rows, -1)


def _from_counts(m: Any, counts: np.ndarray) -> np.ndarray:
    """An ``expval``, ``var`` or ``probs`` of every row from its counts ``(rows, 2**n)`` (the tape's diagonalized
    basis), as PennyLane computes them from samples."""
    shots = counts.sum(axis=1)
    n = int(np.log2(counts.shape[1]))
    if isinstance(m, ProbabilityMP):
        wires = m.wires if len(m.wires) else Wires(range(n))
        return marginal(counts, wires) / shots[:, None]
    eigvals = basis_eigvals(m.obs, n)
    mean = counts @ eigvals / shots
    if isinstance(m, VarianceMP):
        return counts @ eigvals**2 / shots - mean**2
    return mean


def read(
    kind: str, compiled: Compiled, tape: qml.tape.QuantumScript, output: np.ndarray, batch_size: int | None
) -> Any:
    """Turn a tape's rows of primitive output into PennyLane's result structure."""

    def pack(per_mp: list[np.ndarray]) -> Any:
        per_mp = [v if batch_size is not None else v[0] for v in per_mp]
        return per_mp[0] if len(per_mp) == 1 else tuple(per_mp)

    if kind == "estimator":
        return pack(
            [
                output[:, j] if square is None else output[:, square] - output[:, j] ** 2
                for j, square in compiled.readout
            ]
        )
    if kind == "state" or not tape.shots.has_partitioned_shots:
        return pack(_per_measurement(kind, tape.measurements, output))
    return tuple(
        pack(_per_measurement(kind, tape.measurements, output, slice(lower, upper)))
        for lower, upper in tape.shots.bins()
    )


def _moments(
    kind: str, compiled: Compiled, tape: qml.tape.QuantumScript, output: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Per measurement, the rows of a quantity linear in the state and, for variances, of ⟨O²⟩.

    Expectation values and probabilities are linear, so the shift rule applies to them directly; a
    variance is ⟨O²⟩ − ⟨O⟩², so its two moments are returned (for sampled or exact-state tapes, from
    the probabilities in O's eigenbasis and O's eigenvalues).
    """
    if kind == "estimator":
        return [(output[:, j], None if square is None else output[:, square]) for j, square in compiled.readout]
    linear = []
    n = int(np.log2(output.shape[1])) if kind == "counts" else 0
    for m in tape.measurements:
        if isinstance(m, VarianceMP) and kind == "counts":
            eigvals = basis_eigvals(m.obs, n)
            shots = output.sum(axis=1)
            linear.append((output @ eigvals / shots, output @ eigvals**2 / shots))
        elif isinstance(m, VarianceMP):
            (probs,) = _per_measurement(kind, [qml.probs(op=m.obs)], output)
            eigvals = np.asarray(m.obs.eigvals())
            linear.append((probs @ eigvals, probs @ eigvals**2))
        elif isinstance(m, ExpectationMP | ProbabilityMP):
            (value,) = _per_measurement(kind, [m], output)
            linear.append((np.asarray(value), None))
        else:
            raise DeviceError(
                f"bridge.qiskit cannot differentiate {m} (only expectation values, variances and "
                "probabilities): use diff_method='parameter-shift' or do not differentiate it"
            )
    return linear


def jacobian(
    kind: str,
    compiled: Compiled,
    tape: qml.tape.QuantumScript,
    output: np.ndarray,
    values: TapeValues,
    plan: ShiftPlan | None,
) -> tuple:
    """One tape's Jacobian from its output rows (its own rows, then its shifted blocks), in PennyLane's layout
    (what ``qml.gradients.compute_vjp_single``/``compute_vjp_multi`` contract with the cotangents): per trainable
    parameter an array of its measurement's result shape (a leading batch dimension for a broadcast tape: the
    derivative of each sample's result); with several measurements, one such tuple per measurement. A tape with
    nothing trainable has ``()``; a broadcast tape's trainable parameters are never broadcast themselves (the
    device's preprocessing splits such tapes per sample, :func:`bridge.broadcast.split_broadcast`)."""
    if plan is None or not plan.terms:
        return ()
    if tape.shots.has_partitioned_shots:
        raise DeviceError("bridge.qiskit's device gradients do not support shot vectors; give one shot number")
    n = values.values.shape[0]
    shapes = _result_shapes(kind, compiled, tape, output[:n], values.batch_size)
    if not len(plan.rows):  # no shiftable angle among the trainable ones: exact zeros, and no job was sent
        per_mp = [tuple(np.zeros(shape) for _ in plan.terms) for shape in shapes]
        return per_mp[0] if len(per_mp) == 1 else tuple(per_mp)
    moments = _moments(kind, compiled, tape, output)
    blocks = (output.shape[0] - n) // n
    # Σ_j c_j f(block_j) for every parameter at once: coefficients (parameters, blocks) against the shifted blocks
    coefficients = np.zeros((len(plan.terms), blocks))
    for p, terms in enumerate(plan.terms):
        for k, c in terms:
            coefficients[p, k] += c
    per_mp = []
    for (first, second), shape in zip(moments, shapes, strict=True):
        first = np.asarray(first).reshape(n * (blocks + 1), -1)
        jac = np.einsum("pk,knd->pnd", coefficients, first[n:].reshape(blocks, n, -1))
        if second is not None:  # d var = d<O²> − 2 <O> d<O>
            second = np.asarray(second).reshape(n * (blocks + 1), -1)
            jac = np.einsum("pk,knd->pnd", coefficients, second[n:].reshape(blocks, n, -1)) - 2 * first[:n] * jac
        per_mp.append(tuple(row.reshape(shape) for row in jac))
    return per_mp[0] if len(per_mp) == 1 else tuple(per_mp)


def _result_shapes(
    kind: str, compiled: Compiled | None, tape: qml.tape.QuantumScript, output: np.ndarray, batch_size: int | None
) -> list[tuple[int, ...]]:
    """The shape of each measurement's result: read from the tape's own rows, or (none were sent: a tape whose
    only trainable angle is a global phase, not run) from the measurement."""
    if compiled is None or not len(output):
        batch = () if batch_size is None else (batch_size,)
        return [batch + tuple(m.shape(None, len(tape.wires))) for m in tape.measurements]
    result = read(kind, compiled, tape, output, batch_size)
    return [np.shape(v) for v in ([result] if len(tape.measurements) == 1 else result)]
