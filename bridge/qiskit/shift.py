"""The parameter-shift rule as rows of angle values: every shifted circuit of a tape is one more row.

For a trainable gate angle θ with PennyLane's shift rule ``∂f/∂θ = Σ_j c_j f(m_j θ + s_j)`` (two terms
for Pauli rotations, four for controlled rotations, from ``op.parameter_frequencies``), the shifted
evaluations are copies of the tape's angle rows with one column changed. They all share the tape's
circuit structure, so a whole backward pass is a few more rows of the same PUB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
from pennylane.exceptions import DeviceError

from bridge.qiskit.structure import ANGLE_GATES


@dataclass(frozen=True)
class ShiftPlan:
    """Shifted rows of one tape.

    Attributes:
        rows: shape ``(n_blocks * base_rows, n_params)``; block ``k`` is the base rows with one angle
            shifted (a view into ``with_base``).
        with_base: the base rows, then ``rows``: what a fused job sends, allocated once.
        terms: for each trainable parameter, its ``(block index, coefficient)`` pairs; empty when the
            parameter's derivative is zero (a global phase).
        broadcast: for each trainable parameter, whether it has one value per broadcast row.
    """

    rows: np.ndarray
    terms: tuple[tuple[tuple[int, float], ...], ...]
    broadcast: tuple[bool, ...]
    with_base: np.ndarray


def shiftable(tape: qml.tape.QuantumScript) -> bool:
    """Whether every trainable parameter of a preprocessed tape is an angle of :data:`ANGLE_GATES` (what
    :func:`shift_plan` can plan)."""
    ops = tape.operations
    for index in tape.trainable_params:
        info = tape.par_info[index]
        if info["op_idx"] >= len(ops) or info["op"].name not in ANGLE_GATES:
            return False
    return True


def shift_plan(tape: qml.tape.QuantumScript, base: np.ndarray) -> ShiftPlan:
    """Plan every shifted evaluation for the tape's trainable parameters.

    Args:
        tape: a device-preprocessed tape (gates in :data:`~bridge.qiskit.structure.ANGLE_GATES` or constant).
        base: the tape's angle rows, shape ``(rows, n_params)`` (see :func:`bridge.qiskit.structure.tape_values`).

    Raises:
        DeviceError: a trainable parameter is not a gate angle (a matrix, a state, an observable
            coefficient): use ``diff_method="parameter-shift"`` for such circuits.
    """
    first_column: dict[int, int] = {}
    column = 0
    for op_index, op in enumerate(tape.operations):
        if op.name in ANGLE_GATES:
            first_column[op_index] = column
            column += len(op.data)
    n_ops = len(tape.operations)
    changes: list[tuple[int, float, float]] = []  # per block: (column, multiplier, shift)
    terms: list[tuple[tuple[int, float], ...]] = []
    broadcast: list[bool] = []
    for index in tape.trainable_params:
        info = tape.par_info[index]
        op, op_index, datum = info["op"], info["op_idx"], info["p_idx"]
        if op_index >= n_ops or op.name not in ANGLE_GATES:
            raise DeviceError(
                f"bridge.qiskit differentiates gate angles only, but a parameter of {op.name} is "
                "trainable; use diff_method='parameter-shift' for this circuit"
            )
        broadcast.append(np.ndim(op.data[datum]) > 0)
        if op.name == "GlobalPhase":  # no effect on any measured quantity
            terms.append(())
            continue
        col = first_column[op_index] + datum
        rule = np.atleast_2d(qml.gradients.generate_shift_rule(op.parameter_frequencies[datum]))
        if rule.shape[1] == 2:  # rows (coefficient, shift): multipliers of 1
            rule = np.insert(rule, 1, 1.0, axis=1)
        entries = []
        for coeff, multiplier, shift in rule:
            entries.append((len(changes), float(coeff)))
            changes.append((col, float(multiplier), float(shift)))
        terms.append(tuple(entries))
    n = base.shape[0]
    with_base = np.empty(((len(changes) + 1) * n, base.shape[1]))  # one allocation: base rows, then each block
    with_base[:n] = base
    for k, (col, multiplier, shift) in enumerate(changes):
        block = with_base[n * (k + 1) : n * (k + 2)]
        block[:] = base
        block[:, col] = multiplier * base[:, col] + shift
    return ShiftPlan(with_base[n:], tuple(terms), tuple(broadcast), with_base)
