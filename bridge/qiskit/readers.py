"""Primitive outputs → PennyLane results: values of every measurement, and vector-Jacobian products from the
rows of the parameter-shift rule.
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
    """Each measurement of a ``"state"`` or ``"sampler"`` tape, for every row: arrays ``(rows, ...)``.

    PennyLane's own measurement functions do the work: ``measure`` on the batch of exact states, and
    ``process_samples`` on the (already diagonalized) samples, as its ``default.qubit`` does.
    """
    if kind == "state":
        n_qubits = int(np.log2(output.shape[1]))
        states = output.reshape((output.shape[0], *[2] * n_qubits))
        if output.shape[0] > 1:
            return [np.asarray(measure(m, states, is_state_batched=True)) for m in measurements]
        return [np.asarray(measure(m, states[0]))[None] for m in measurements]
    wires = Wires(range(output.shape[2]))
    if output.shape[0] > 1:  # process_samples takes a leading batch (row) dimension of size > 1
        return [m.process_samples(output[:, shots], wires) for m in measurements]
    values = [m.process_samples(output[0, shots], wires) for m in measurements]
    return [[v] if isinstance(v, dict) else np.asarray(v)[None] for v in values]  # type: ignore[misc]


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


def rows_to_run(tape: qml.tape.QuantumScript, values: TapeValues, plan: ShiftPlan) -> np.ndarray:
    """The rows a tape's vector-Jacobian product needs: its shifted rows, after its own rows for a variance
    (d var = d⟨O²⟩ − 2⟨O⟩ d⟨O⟩); none when nothing is shifted."""
    return np.concatenate([values.values, plan.rows]) if has_variance(tape) and len(plan.rows) else plan.rows


def has_variance(tape: qml.tape.QuantumScript) -> bool:
    return any(isinstance(m, VarianceMP) for m in tape.measurements)


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
    for m in tape.measurements:
        if isinstance(m, VarianceMP):
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


def vjp(
    kind: str,
    compiled: Compiled,
    tape: qml.tape.QuantumScript,
    output: np.ndarray,
    values: TapeValues,
    plan: ShiftPlan,
    cotangent: Any,
) -> tuple:
    """One tape's vector-Jacobian product from its shifted blocks (after its base rows, for variances)."""
    if not plan.terms:
        return ()
    n = values.values.shape[0]
    if not len(plan.rows):  # no shiftable angle among the trainable ones: exact zeros, and no job was sent
        return tuple(np.zeros(n) if broadcast else np.float64(0.0) for broadcast in plan.broadcast)
    if tape.shots.has_partitioned_shots:
        raise DeviceError("bridge.qiskit's device gradients do not support shot vectors; give one shot number")
    offset = n if has_variance(tape) else 0
    moments = _moments(kind, compiled, tape, output)
    dys = [np.asarray(cotangent)] if len(tape.measurements) == 1 else [np.asarray(d) for d in cotangent]

    def shifted(rows: np.ndarray, terms: tuple[tuple[int, float], ...]) -> np.ndarray:
        """Σ_j c_j f(block_j): the derivative of ``rows``' quantity, shape (n, ...)."""
        return np.sum([c * rows[offset + n * k : offset + n * (k + 1)] for k, c in terms], axis=0)

    vjps = []
    for terms, broadcast in zip(plan.terms, plan.broadcast, strict=True):
        total = np.zeros(n)
        for (first, second), dy in zip(moments, dys, strict=True):
            if not terms:
                continue
            jac = shifted(first, terms)
            if second is not None:  # d var = d<O²> − 2 <O> d<O>
                jac = shifted(second, terms) - 2 * first[:n] * jac
            dy_rows = dy.reshape(n, -1)
            total += np.sum(dy_rows * np.asarray(jac).reshape(n, -1), axis=1)
        vjps.append(total if broadcast else np.float64(total.sum()))
    return tuple(vjps)
