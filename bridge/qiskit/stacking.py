"""Several parameter rows in one Aer experiment, so that Aer's cost per experiment is paid once for them all.

Aer spends 60–80 µs on each experiment of a 4-qubit circuit (setting it up, binding its parameters, building its
result), several times the simulation itself (``benchmarks/aer_rows.py``). A *stacked* circuit runs ``k`` rows one
after another in one experiment: row ``j``'s gates on parameters of its own, its save instructions labelled
``LABEL@j``, and before the next row the state set back to |0…0⟩ (Aer's ``set_statevector``, exact). Each row's
saved data are those of the row run alone; the global phase, which ``set_statevector`` drops, is applied to saved
state vectors here (the tests compare stacked and separate runs to 1e-12).

Only exact (ideal, saved-data) runs are stacked; sampled and noisy runs keep one experiment per row.
"""

from __future__ import annotations

import cmath
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector

SEPARATOR = "@"  # a stacked save's label: the row's label, SEPARATOR, the row's place in the experiment
MAX_ROWS = 16  # rows per experiment at most (measured at 4 qubits: 8 → 22 µs a row, 16 → 19, 64 → 20; 1 → 81)
AMPLITUDES = 2**12  # fewer rows per experiment as the state grows: where simulating a row costs more than the
#                     experiment's overhead (12 qubits and more), one row per experiment, as Aer runs them
CACHE_SIZE = 256  # stacked circuits kept (per compiled structure: k rows, and the rest of a job's rows)


def rows_per_experiment(num_qubits: int, rows: int) -> int:
    """How many of ``rows`` rows of a ``num_qubits`` circuit one experiment runs.

    A run costs about ``rows × (a + b/k) + c × k``: ``a`` the simulation of a row, ``b`` Aer's overhead per
    experiment, ``c`` per row of the stacked circuit to convert it for Aer once per run (at 4 qubits ``b`` ≈ 65 µs,
    ``c`` ≈ 0.66 ms), least at ``k = √(rows·b/c) ≈ √(rows/10)``; at most :data:`MAX_ROWS` up to 8 qubits, halving
    with each further qubit, 1 from 12 qubits on.
    """
    return max(1, min(MAX_ROWS, AMPLITUDES // 2**num_qubits, math.isqrt(rows // 10)))


@dataclass(frozen=True)
class Stacked:
    """A prepared circuit stacked ``rows`` times.

    Attributes:
        circuit: the stacked circuit (global phase 0).
        rows: rows per experiment, ``k``.
        parameters: per row ``j`` of an experiment, its parameters in the order of the original
            ``circuit.parameters`` (the order of a PUB's value columns).
        phase: the original circuit's global phase (a number), applied to saved state vectors.
    """

    circuit: QuantumCircuit
    rows: int
    parameters: tuple[tuple[Parameter, ...], ...]
    phase: float


def stack(circuit: QuantumCircuit, rows: int) -> Stacked:
    """``circuit`` (prepared for an exact run: parameterized, ending in Aer save instructions) stacked ``rows`` times.

    Raises:
        ValueError: a circuit without parameters (one experiment serves all its rows already), a parameterized
            global phase (see :func:`bridge.qiskit.primitives.phase_for_aer`), or a save instruction before a gate.
    """
    parameters = list(circuit.parameters)
    if not parameters:
        raise ValueError("a circuit without parameters runs once for all its rows: nothing to stack")
    phase = circuit.global_phase
    if getattr(phase, "parameters", None):
        raise ValueError("a parameterized global phase cannot be stacked: drop it or move it into gates first")
    body = [inst for inst in circuit.data if not inst.operation.name.startswith("save_")]
    saves = [inst for inst in circuit.data if inst.operation.name.startswith("save_")]
    if circuit.data[len(body) :] != saves:
        raise ValueError("stacking needs the save instructions at the end of the circuit")
    from qiskit_aer.library import SetStatevector

    template = circuit.copy_empty_like()
    template.global_phase = 0.0
    for inst in body:
        template.append(inst)
    out = circuit.copy_empty_like()
    out.global_phase = 0.0
    zero = np.zeros(2**circuit.num_qubits, dtype=complex)
    zero[0] = 1.0
    per_row = []
    for j in range(rows):
        own = ParameterVector(f"_row{j}", len(parameters))
        if j:
            out.append(SetStatevector(zero), out.qubits)
        out.compose(template.assign_parameters(dict(zip(parameters, own, strict=True))), inplace=True)
        for inst in saves:
            save = inst.operation.copy()
            save.label = f"{inst.operation.label}{SEPARATOR}{j}"
            out.append(save, inst.qubits, inst.clbits)
        per_row.append(tuple(own))
    return Stacked(out, rows, tuple(per_row), float(phase))


_cache: OrderedDict[tuple[int, int], tuple[QuantumCircuit, Stacked]] = OrderedDict()


def stacked(circuit: QuantumCircuit, rows: int) -> Stacked:
    """:func:`stack`, kept per circuit object and ``rows`` (a compiled structure's circuit lives as long as the
    device's compile cache keeps it; the cache holds it, so its id is not reused while the entry lives)."""
    key = (id(circuit), rows)
    hit = _cache.get(key)
    if hit is not None and hit[0] is circuit:
        _cache.move_to_end(key)
        return hit[1]
    made = stack(circuit, rows)
    _cache[key] = (circuit, made)
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return made


def bindings(stacked: Stacked, values: np.ndarray) -> dict[Parameter, np.ndarray]:
    """Aer's ``parameter_binds`` for ``values`` ``(rows, P)``, ``rows`` a multiple of ``k`` (columns in the original
    circuit's parameter order): ``rows / k`` experiments, row ``r`` in experiment ``r // k`` at place ``r % k``."""
    k = stacked.rows
    if values.shape[0] % k:
        raise ValueError(f"{values.shape[0]} rows do not fill experiments of {k} rows")
    grid = values.reshape(values.shape[0] // k, k, values.shape[1])
    return {
        parameter: np.ascontiguousarray(grid[:, j, i])
        for j, row in enumerate(stacked.parameters)
        for i, parameter in enumerate(row)
    }


def split(rows: int, k: int) -> list[tuple[int, int, int]]:
    """``rows`` rows as ``(first row, rows per experiment, experiments)`` parts: whole experiments of ``k`` rows,
    then one experiment of the rest (no row runs twice, none is padded)."""
    whole, rest = divmod(rows, k)
    parts = [(0, k, whole)] if whole else []
    return [*parts, (whole * k, rest, 1)] if rest else parts


def unstacked(stacked: Stacked, data: list[Any]) -> list[dict[str, Any]]:
    """Each row's saved data, ``{label: value}`` as an unstacked experiment's ``data`` would hold, from the
    experiments' ``data`` (state vectors get the original circuit's global phase back)."""
    phase = cmath.exp(1j * stacked.phase) if stacked.phase else None
    out: list[dict[str, Any]] = []
    for experiment in data:
        saved = experiment.to_dict()
        per_row: list[dict[str, Any]] = [{} for _ in range(stacked.rows)]
        for label, value in saved.items():
            name, _, place = label.rpartition(SEPARATOR)
            if phase is not None and name == "statevector":
                value = np.asarray(value) * phase
            per_row[int(place)][name] = value
        out.extend(per_row)
    return out
