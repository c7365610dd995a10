"""``bridge.qiskit``: a PennyLane device that runs a whole batch of tapes in one Qiskit primitive call.

Stock pennylane-qiskit transpiles and submits every tape on its own. This device groups the tapes of
each ``execute`` call by structure (:mod:`bridge.structure`), builds one parameterized circuit per
structure, transpiles it once for the backend and keeps it in a bounded LRU cache across calls, and
sends every structure's parameter rows as one PUB: one job for all expectation-value tapes, one for all
sampled tapes. A parameter-shift backward pass (all shifted tapes of a batch) is therefore one job.

How tapes are read:

* exact (no shots, ideal Aer): Pauli expectation values by ``save_expectation_value``, everything else
  (``probs``, ``state``, ``Hermitian``) from state vectors — both exact to floating point;
* shots on Aer (ideal or with a fake IBM backend's noise): ``SamplerV2`` bitstrings, diagonalized per
  qubit-wise commuting group, turned into every measurement by PennyLane's own ``process_samples``;
* shots on IBM Runtime backends: ``EstimatorV2`` for Pauli expectation values, ``SamplerV2`` otherwise.

Tracking follows ``qml.Tracker`` conventions; besides ``batches``/``executions``/``shots`` it records
``primitive_jobs`` and ``pub_rows`` (circuits, one per parameter row) for every ``execute`` call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import decompose, validate_device_wires, validate_measurements
from pennylane.devices.qubit import measure
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP, VarianceMP
from pennylane.transforms import split_non_commuting
from pennylane.transforms.core import CompilePipeline
from pennylane.wires import Wires
from pennylane_qiskit.converter import QISKIT_OPERATION_MAP
from qiskit.quantum_info import SparsePauliOp

from bridge import engines
from bridge.structure import parameterized_circuit, pauli_observable, structure_key, tape_values

SUPPORTED_OPERATIONS = frozenset((set(QISKIT_OPERATION_MAP) - {"Adjoint(GlobalPhase)"}) | {"GlobalPhase"})


@dataclass
class Compiled:
    """A structure compiled for the backend.

    Attributes:
        kind: ``"estimator"``, ``"state"`` or ``"sampler"``.
        circuit: the ISA circuit.
        columns: for each of ``circuit.parameters``, its index in the tape's angle row.
        observables: estimator observables (layout applied), ``O`` then ``O²`` for variances.
        readout: per measurement, the observable index and, for variances, the index of ``O²``.
    """

    kind: str
    circuit: Any
    columns: np.ndarray
    observables: tuple[SparsePauliOp, ...] = ()
    readout: tuple[tuple[int, int | None], ...] = ()


@simulator_tracking
@single_tape_support
class QiskitBatchDevice(Device):
    """Batched Qiskit execution for PennyLane (``qml.device("bridge.qiskit", wires=4, profile="aer")``).

    Args:
        wires: number of wires or their labels.
        shots: default shots (deprecated by PennyLane: prefer ``qml.set_shots`` on the QNode, as
            :func:`bridge.make_qnode` does with the profile's shots); ``None`` for exact (ideal Aer only).
        profile: a device profile (name, path or :class:`~bridge.profiles.Profile`) giving the backend,
            seed and transpiler options.
        backend: a Qiskit backend to use instead of a profile's (``AerSimulator``, a fake or IBM backend).
        seed: seed of the sampling (Aer) — each job draws its own seed from it.
        optimization_level: transpiler optimization level (default 1).
        seed_transpiler: transpiler seed.
        cache_size: compiled structures kept (least recently used ones are dropped).
    """

    name = "bridge.qiskit"
    config_filepath = None

    def __init__(self, wires: Any = None, shots: Any = None, *, profile: Any = None, backend: Any = None,
                 seed: int | None = None, optimization_level: int | None = None,
                 seed_transpiler: int | None = None, cache_size: int = 256) -> None:
        if wires is None:
            raise DeviceError("bridge.qiskit needs wires (the number of qubits or their labels)")
        n_wires = wires if isinstance(wires, int) else len(wires)
        if profile is not None:
            from bridge.backends import qiskit_backend
            from bridge.profiles import load_profile

            prof = load_profile(profile)
            backend = backend if backend is not None else qiskit_backend(prof, n_wires)
            seed = prof.seed if seed is None else seed
            if optimization_level is None:
                optimization_level = prof.qiskit.optimization_level
            if seed_transpiler is None:
                seed_transpiler = prof.qiskit.seed_transpiler
        super().__init__(wires=wires, shots=shots)
        from qiskit_aer import AerSimulator

        self.backend = backend if backend is not None else AerSimulator(method="statevector")
        if self.backend.num_qubits is not None and n_wires > self.backend.num_qubits:
            raise DeviceError(f"{n_wires} wires do not fit on backend {self.backend.name} "
                              f"({self.backend.num_qubits} qubits)")
        self._is_aer = isinstance(self.backend, AerSimulator)
        self._ideal = self._is_aer and self.backend.options.noise_model is None
        self._exact_simulator = AerSimulator(method="statevector") if self._ideal else None
        self._rng = np.random.default_rng(seed)
        self._pass_manager_options = {"optimization_level": 1 if optimization_level is None else optimization_level,
                                      "seed_transpiler": seed_transpiler}
        self._pass_manager = None
        self._cache: OrderedDict[Any, Compiled] = OrderedDict()
        self.cache_size = cache_size
        self.cache_stats = {"hits": 0, "misses": 0}
        self._sampler: engines.Sampler | None = None
        self._estimator: engines.RuntimeEstimator | None = None

    # ---------------------------------------------------------------- preprocessing
    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        program = CompilePipeline()
        program.add_transform(validate_device_wires, wires=self.wires, name=self.name)
        program.add_transform(decompose, stopping_condition=_supported, target_gates=SUPPORTED_OPERATIONS,
                              skip_initial_state_prep=False, name=self.name)
        program.add_transform(validate_measurements, name=self.name)
        program.add_transform(split_non_commuting)
        return program

    def setup_execution_config(self, config: ExecutionConfig | None = None,
                               circuit: qml.tape.QuantumScript | None = None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        if config.gradient_method in ("best", None):
            config = replace(config, gradient_method="parameter-shift")
        return replace(config, use_device_gradient=False, use_device_jacobian_product=False)

    # ---------------------------------------------------------------- execution
    def execute(self, circuits: Sequence[qml.tape.QuantumScript],
                execution_config: ExecutionConfig | None = None) -> tuple:
        tapes = [self._standard_wires(t) for t in circuits]
        groups: OrderedDict[Any, list[int]] = OrderedDict()
        for i, tape in enumerate(tapes):
            groups.setdefault(structure_key(tape, self._kind(tape)), []).append(i)

        plans = {kind: [] for kind in ("estimator", "state", "sampler")}
        for key, members in groups.items():
            compiled = self._compiled(key, tapes[members[0]])
            values = [tape_values(tapes[i]) for i in members]
            rows = np.concatenate([v.values for v in values], axis=0)
            pub = engines.Pub(compiled.circuit, rows[:, compiled.columns], compiled.observables,
                              tapes[members[0]].shots.total_shots)
            plans[compiled.kind].append((compiled, members, values, pub))

        results: list[Any] = [None] * len(tapes)
        jobs = pub_rows = 0
        for kind, plan in plans.items():
            if not plan:
                continue
            outputs = self._run(kind, [p[3] for p in plan])
            jobs += 1
            for (compiled, members, values, pub), output in zip(plan, outputs, strict=True):
                pub_rows += pub.rows
                start = 0
                for i, v in zip(members, values, strict=True):
                    rows = v.values.shape[0]
                    results[i] = _read(kind, compiled, tapes[i], output[start:start + rows], v.batch_size)
                    start += rows
        if self.tracker.active:
            self.tracker.update(primitive_jobs=jobs, pub_rows=pub_rows)
            self.tracker.record()
        return tuple(results)

    def _standard_wires(self, tape: qml.tape.QuantumScript) -> qml.tape.QuantumScript:
        if self.wires.labels == tuple(range(len(self.wires))):
            return tape
        return tape.map_wires({w: i for i, w in enumerate(self.wires)})

    def _kind(self, tape: qml.tape.QuantumScript) -> str:
        pauli_only = all(isinstance(m, ExpectationMP | VarianceMP) and m.obs is not None and m.obs.pauli_rep
                         is not None for m in tape.measurements)
        if not tape.shots:
            if not self._ideal:
                raise DeviceError(f"bridge.qiskit on backend {self.backend.name} has no exact mode: "
                                  "set shots (qml.set_shots or the profile's 'shots')")
            return "estimator" if pauli_only else "state"
        if tape.shots.has_partitioned_shots or self._is_aer or not pauli_only:
            return "sampler"
        return "estimator"

    def _compiled(self, key: Any, tape: qml.tape.QuantumScript) -> Compiled:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.cache_stats["hits"] += 1
            return cached
        self.cache_stats["misses"] += 1
        compiled = self._compile(key[0], tape)
        self._cache[key] = compiled
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return compiled

    def _compile(self, kind: str, tape: qml.tape.QuantumScript) -> Compiled:
        n = len(self.wires)
        extra = tape.diagonalizing_gates if kind == "sampler" else ()
        circuit = parameterized_circuit(tape, n, measure=kind == "sampler", extra_ops=extra)
        isa = self._transpile(circuit) if kind != "state" else circuit
        columns = np.array([p.index for p in isa.parameters], dtype=int)
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
        return Compiled(kind, isa, columns, tuple(observables), tuple(readout))

    def _transpile(self, circuit: Any) -> Any:
        if self._pass_manager is None:
            from qiskit.transpiler import generate_preset_pass_manager

            self._pass_manager = generate_preset_pass_manager(backend=self.backend, **self._pass_manager_options)
        return self._pass_manager.run(circuit)

    def _run(self, kind: str, pubs: list[engines.Pub]) -> list[np.ndarray]:
        if kind == "state":
            return engines.exact_statevectors(self._exact_simulator, pubs)
        if kind == "estimator" and self._ideal and pubs[0].shots is None:
            return engines.exact_expectations(self._exact_simulator, pubs)
        if kind == "estimator":
            if self._estimator is None:
                from qiskit_ibm_runtime import EstimatorV2

                self._estimator = engines.RuntimeEstimator(EstimatorV2(mode=self.backend))
            return self._estimator.run(pubs)
        if self._sampler is None:
            self._sampler = engines.Sampler(self._sampler_factory(), self._rng)
        return self._sampler.run(pubs)

    def _sampler_factory(self) -> Callable[[int], Any]:
        if self._is_aer:
            from qiskit_aer.primitives import SamplerV2

            return lambda seed: SamplerV2.from_backend(self.backend, seed=seed)
        from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler

        return lambda seed: RuntimeSampler(mode=self.backend)


def _supported(op: qml.operation.Operator) -> bool:
    return op.name in SUPPORTED_OPERATIONS


def _read(kind: str, compiled: Compiled, tape: qml.tape.QuantumScript, output: np.ndarray,
          batch_size: int | None) -> Any:
    """Turn a tape's rows of primitive output into PennyLane's result structure."""
    measurements = tape.measurements

    def per_row(values: list[Any]) -> Any:
        return np.stack(values) if batch_size is not None else values[0]

    def pack(per_mp: list[Any]) -> Any:
        return per_mp[0] if len(per_mp) == 1 else tuple(per_mp)

    if kind == "estimator":
        per_mp = []
        for j, square in compiled.readout:
            ev = output[:, j]
            value = ev if square is None else output[:, square] - ev**2
            per_mp.append(per_row(list(value)))
        return pack(per_mp)
    if kind == "state":  # PennyLane's own measurement functions on the batch of exact states
        n_qubits = int(np.log2(output.shape[1]))
        states = output.reshape((output.shape[0], *[2] * n_qubits))
        values = [measure(m, states, is_state_batched=True) for m in measurements]
        return pack([v if batch_size is not None else v[0] for v in values])
    full = Wires(range(output.shape[2]))
    bins = []
    for lower, upper in tape.shots.bins():
        bins.append(pack([per_row([m.process_samples(row[lower:upper], full) for row in output])
                          for m in measurements]))
    return tuple(bins) if tape.shots.has_partitioned_shots else bins[0]
