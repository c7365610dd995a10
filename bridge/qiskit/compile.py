"""Compile a tape's structure once: the parameterized Qiskit circuit, transpiled for the backend (ISA), with its
observables laid out, kept in a bounded least-recently-used cache across training steps.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.measurements import VarianceMP
from pennylane_qiskit.converter import QISKIT_OPERATION_MAP
from qiskit.quantum_info import SparsePauliOp

from bridge.qiskit import primitives
from bridge.qiskit.structure import DECOMPOSED_GATES, parameterized_circuit, pauli_observable

# Gates the device runs natively: pennylane-qiskit's gate map, less those Aer cannot bind (DECOMPOSED_GATES).
SUPPORTED_OPERATIONS = frozenset(
    (set(QISKIT_OPERATION_MAP) - {"Adjoint(GlobalPhase)"} - DECOMPOSED_GATES) | {"GlobalPhase"}
)
# Gates the ideal AerSimulator cannot run untranspiled: PennyLane decomposes them for that backend.
NOT_NATIVE_TO_AER = frozenset({"ISWAP", "CH"})


@dataclass
class Compiled:
    """A structure compiled for the backend.

    Attributes:
        kind: ``"estimator"`` (Pauli expectation values), ``"state"`` (exact state vectors), ``"counts"`` (shots,
            read as counts per row) or ``"samples"`` (shots, read as bitstrings).
        circuit: the ISA circuit (with Aer's save instructions for exact kinds).
        columns: for each of ``circuit.parameters``, its index in the tape's angle row.
        observables: estimator observables (layout applied), ``O`` then ``O²`` for variances.
        readout: per measurement, the observable index and, for variances, the index of ``O²``.
    """

    kind: str
    circuit: Any
    columns: np.ndarray
    observables: tuple[SparsePauliOp, ...] = ()
    readout: tuple[tuple[int, int | None], ...] = ()

    @functools.cached_property
    def active_qubits(self) -> frozenset[int]:
        """The qubits the circuit's instructions touch."""
        return frozenset(self.circuit.find_bit(q).index for inst in self.circuit.data for q in inst.qubits)


class Compiler:
    """Structure key → :class:`Compiled`, built on first use and kept (at most ``cache_size``, LRU).

    Args:
        backend: the Qiskit backend circuits are compiled for.
        n_qubits: the device's number of wires.
        ideal: the ideal simulator, which runs circuits as built (no transpiler, and no per-circuit cost
            for it); other backends get ISA circuits from a preset pass manager.
        aer: the backend is an Aer simulator (noisy ones run measured circuits directly, not through SamplerV2).
        optimization_level: the pass manager's optimization level.
        seed_transpiler: its seed.
        cache_size: compiled structures kept.
    """

    def __init__(
        self,
        backend: Any,
        n_qubits: int,
        *,
        ideal: bool,
        aer: bool = False,
        optimization_level: int,
        seed_transpiler: int | None,
        cache_size: int,
    ) -> None:
        self.backend = backend
        self.n_qubits = n_qubits
        self.ideal = ideal
        self.aer = aer
        self.cache_size = cache_size
        self.stats = {"hits": 0, "misses": 0}
        self._pass_manager_options = {"optimization_level": optimization_level, "seed_transpiler": seed_transpiler}
        self._pass_manager: Any = None
        self._cache: OrderedDict[Hashable, Compiled] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, key: Hashable, tape: qml.tape.QuantumScript) -> Compiled:
        """The compiled structure of ``tape`` (whose structure key is ``key``, its kind first)."""
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.stats["hits"] += 1
            return cached
        self.stats["misses"] += 1
        compiled = self._compile(key[0], tape)  # type: ignore[index]
        self._cache[key] = compiled
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return compiled

    def _compile(self, kind: str, tape: qml.tape.QuantumScript) -> Compiled:
        n = self.n_qubits
        sampled = kind in ("counts", "samples")
        # the ideal simulator gives counts from exact probabilities: no measurement in the circuit
        measure = kind == "samples" or kind == "counts" and not self.ideal
        circuit = parameterized_circuit(tape, n, measure=measure, extra_ops=tape.diagonalizing_gates if sampled else ())
        isa = circuit if self.ideal else self._transpile(circuit)
        if self.ideal or self.aer:
            isa = primitives.phase_for_aer(isa, keep=kind == "state")
        columns = np.array([p.index for p in isa.parameters], dtype=int)
        if kind == "state":  # exact only: the save instruction is part of the structure
            return Compiled(kind, primitives.prepare_exact(isa), columns)
        if kind == "counts" and self.ideal:
            return Compiled(kind, primitives.prepare_exact(isa, primitives.PROBABILITIES), columns)
        if kind == "counts" and self.aer:  # noisy Aer: its own counts per experiment (primitives.measured_counts)
            return Compiled(kind, primitives.with_parameter(isa), columns)
        if kind != "estimator":
            return Compiled(kind, isa, columns)
        observables: list[SparsePauliOp] = []
        readout = []
        for m in tape.measurements:
            op = pauli_observable(m.obs, n)
            observables.append(op)
            square = None
            if isinstance(m, VarianceMP):
                observables.append((op @ op).simplify())
                square = len(observables) - 1
            readout.append((len(observables) - 1 - (square is not None), square))
        if isa.layout is not None:
            observables = [o.apply_layout(isa.layout, num_qubits=isa.num_qubits) for o in observables]
        if self.ideal:  # exact expectation values: Aer's save instructions are part of the structure
            isa = primitives.prepare_exact(isa, observables)
        return Compiled(kind, isa, columns, tuple(observables), tuple(readout))

    def _transpile(self, circuit: Any) -> Any:
        if self._pass_manager is None:
            from qiskit.transpiler import generate_preset_pass_manager

            self._pass_manager = generate_preset_pass_manager(backend=self.backend, **self._pass_manager_options)
        return self._pass_manager.run(circuit)
