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

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    device_resolve_dynamic_wires,
    validate_device_wires,
    validate_measurements,
)
from pennylane.devices.qubit import measure
from pennylane.exceptions import DeviceError, PennyLaneDeprecationWarning
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP
from pennylane.pauli import PauliSentence
from pennylane.transforms import split_non_commuting
from pennylane.transforms.core import CompilePipeline
from pennylane.wires import Wires
from pennylane_qiskit.converter import QISKIT_OPERATION_MAP
from qiskit.quantum_info import SparsePauliOp

from bridge import engines
from bridge.broadcast import split_broadcast, split_broadcast_for
from bridge.exceptions import ProfileError
from bridge.profiles import EXECUTION_MODES
from bridge.retry import RetryPolicy, run_job
from bridge.shift import ShiftPlan, shift_plan
from bridge.structure import (
    DECOMPOSED_GATES,
    TapeValues,
    parameterized_circuit,
    pauli_observable,
    structure_key,
    tape_values,
)

# diff_method values the device answers with its own batched parameter-shift rule (PennyLane's parameter-shift
# transform would compute the same derivatives with one tape per shifted circuit), and those it cannot serve
DEVICE_GRADIENT_METHODS = ("best", "device", "parameter-shift")
UNSUPPORTED_GRADIENT_METHODS = ("adjoint", "backprop")
# Operators whose data are matrices or state vectors, not rotation angles: the device's shift rule cannot
# differentiate them (PennyLane's transforms can, by decomposing further).
NOT_ANGLES = frozenset({"QubitUnitary", "ControlledQubitUnitary", "DiagonalQubitUnitary", "StatePrep",
                        "AmplitudeEmbedding", "MottonenStatePreparation", "BlockEncode", "SpecialUnitary",
                        "QubitDensityMatrix"})

SUPPORTED_OPERATIONS = frozenset((set(QISKIT_OPERATION_MAP) - {"Adjoint(GlobalPhase)"} - DECOMPOSED_GATES)
                                 | {"GlobalPhase"})
# Gates the ideal AerSimulator cannot run untranspiled: PennyLane decomposes them for that backend.
NOT_NATIVE_TO_AER = frozenset({"ISWAP", "CH"})


@dataclass
class Compiled:
    """A structure compiled for the backend.

    Attributes:
        kind: ``"estimator"``, ``"state"`` or ``"sampler"``.
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
        retries: attempts after a primitive job's first transient failure (see :mod:`bridge.retry`).
        retry_backoff: seconds before the first retry, doubled before each further one.
        job_timeout: seconds to wait for one job's result (``None``: no limit).
        execution_mode: for IBM Runtime backends (real or fake): ``"job"`` (each primitive call its own
            job), ``"batch"`` or ``"session"`` (all jobs of the device in one runtime Batch or Session).
        runtime_options: options of the runtime ``EstimatorV2`` (resilience, dynamical decoupling,
            twirling, …); those that ``SamplerV2`` also has are given to it too.
        dry_run: count jobs, PUB rows and shots in the tracker without running any circuit (results are
            zeros); see :mod:`bridge.cost`.

    Raises:
        WiresError: more wires than the backend has qubits.
        ProfileError: invalid ``execution_mode`` or ``runtime_options``.
    """

    name = "bridge.qiskit"
    config_filepath = None

    def __init__(self, wires: Any, shots: Any = None, *, profile: Any = None, backend: Any = None,
                 seed: int | None = None, optimization_level: int | None = None,
                 seed_transpiler: int | None = None, cache_size: int = 256, retries: int | None = None,
                 retry_backoff: float | None = None, job_timeout: float | None = None,
                 execution_mode: str | None = None, runtime_options: dict[str, Any] | None = None,
                 dry_run: bool = False) -> None:
        if wires is None:
            raise DeviceError("bridge.qiskit needs wires (the number of qubits or their labels); "
                              "dynamically allocated wires are not supported")
        n_wires = wires if isinstance(wires, int) else len(wires)
        self.profile = None
        shots_from_profile = shots is None and profile is not None
        if profile is not None:
            from bridge.backends import qiskit_backend
            from bridge.profiles import load_profile

            prof = self.profile = load_profile(profile)
            if prof.device != "bridge.qiskit":
                raise ProfileError(f"profile {prof.name!r} runs on {prof.device}, not bridge.qiskit; build it with "
                                   f"bridge.device({prof.name!r}, wires)")
            backend = backend if backend is not None else qiskit_backend(prof, n_wires)
            shots = prof.shots if shots is None else shots
            seed = prof.seed if seed is None else seed
            if optimization_level is None:
                optimization_level = prof.qiskit.optimization_level
            if seed_transpiler is None:
                seed_transpiler = prof.qiskit.seed_transpiler
            retries = prof.qiskit.retries if retries is None else retries
            retry_backoff = prof.qiskit.retry_backoff if retry_backoff is None else retry_backoff
            job_timeout = prof.qiskit.job_timeout if job_timeout is None else job_timeout
            execution_mode = prof.ibm.mode if execution_mode is None else execution_mode
            runtime_options = prof.ibm.options if runtime_options is None else runtime_options
        with warnings.catch_warnings():  # a profile's shots are this device's default (bridge.backends.device)
            if shots_from_profile:
                warnings.filterwarnings("ignore", "Setting shots on device is deprecated", PennyLaneDeprecationWarning)
            super().__init__(wires=wires, shots=shots)
        self._init_args = {"wires": wires, "shots": shots, "profile": profile, "backend": None if profile else backend,
                           "seed": seed, "optimization_level": optimization_level,
                           "seed_transpiler": seed_transpiler, "cache_size": cache_size, "retries": retries,
                           "retry_backoff": retry_backoff, "job_timeout": job_timeout,
                           "execution_mode": execution_mode, "runtime_options": runtime_options, "dry_run": dry_run}
        from qiskit_aer import AerSimulator

        self.backend = backend if backend is not None else AerSimulator(method="statevector")
        if self.backend.num_qubits is not None and n_wires > self.backend.num_qubits:
            raise WiresError(f"{n_wires} wires do not fit on backend {self.backend.name} "
                             f"({self.backend.num_qubits} qubits); use fewer wires or a larger backend")
        self._is_aer = isinstance(self.backend, AerSimulator)
        # ideal: noiseless Aer without a device's coupling map (a noiseless AerSimulator.from_backend still routes)
        self._ideal = (self._is_aer and self.backend.options.noise_model is None
                       and self.backend.coupling_map is None)
        # The ideal simulator runs circuits as built (no layout, every gate native): no transpiler, which
        # also avoids its per-circuit cost. Other backends get ISA circuits from a preset pass manager.
        self._operations = SUPPORTED_OPERATIONS - (NOT_NATIVE_TO_AER if self._ideal else frozenset())
        # exact results come from the backend itself when it simulates state vectors, else from a fresh one
        statevector_ready = self._ideal and self.backend.options.method in ("automatic", "statevector")
        self._exact_simulator = (self.backend if statevector_ready
                                 else AerSimulator(method="statevector") if self._ideal else None)
        default = RetryPolicy()
        self.retry_policy = RetryPolicy(default.retries if retries is None else retries,
                                        default.backoff if retry_backoff is None else retry_backoff, job_timeout)
        self._rng = np.random.default_rng(seed)
        self._pass_manager_options = {"optimization_level": 1 if optimization_level is None else optimization_level,
                                      "seed_transpiler": seed_transpiler}
        self._pass_manager = None
        self._cache: OrderedDict[Any, Compiled] = OrderedDict()
        self.cache_size = cache_size
        self.cache_stats = {"hits": 0, "misses": 0}
        self._sampler: engines.Sampler | None = None
        self._estimator: engines.RuntimeEstimator | None = None
        self.execution_mode = execution_mode or "job"
        self.runtime_options = _validated_runtime_options(runtime_options or {})
        if self.execution_mode not in EXECUTION_MODES:
            raise ProfileError(f"execution_mode {self.execution_mode!r} is not one of {', '.join(EXECUTION_MODES)}")
        self._mode: Any = None
        self.dry_run = dry_run

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its construction arguments: a device made from a profile is rebuilt from the profile
        (compile cache, primitives and runtime Batch/Session are not carried over), so a whole model that holds
        one can go through ``torch.save``/``copy.deepcopy``. The sampling seeds' generator continues."""
        return (_rebuild_device, (self._init_args, self.rng_state))

    # ---------------------------------------------------------------- preprocessing
    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        program = CompilePipeline()
        program.add_transform(validate_device_wires, wires=self.wires, name=self.name)
        # PennyLane's decompositions of some gates fail on a batch (FermionicSWAP's builds a qml.exp of a tensor):
        # a broadcast tape holding a gate the device must decompose is split per sample first. The samples still
        # share one structure, hence one PUB.
        program.add_transform(split_broadcast_for, needs_split=lambda op: op.name not in self._operations)
        program.add_transform(decompose, stopping_condition=lambda op: op.name in self._operations,
                              target_gates=self._operations, device_wires=self.wires, skip_initial_state_prep=False,
                              name=self.name)
        program.add_transform(device_resolve_dynamic_wires, wires=self.wires, allow_resets=False)
        program.add_transform(validate_measurements, name=self.name)
        program.add_transform(variance_of_sums)
        program.add_transform(split_when_sampling)
        if execution_config is not None and execution_config.gradient_method == "device":
            # vector-Jacobian products are per tape and per scalar angle: one tape per broadcast sample (cheap: the
            # samples' rows still share one PUB, and no shifted tape is ever built)
            program.add_transform(split_broadcast, always=True)
        return program

    def setup_execution_config(self, config: ExecutionConfig | None = None,
                               circuit: qml.tape.QuantumScript | None = None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        if config.gradient_method in DEVICE_GRADIENT_METHODS and config.derivative_order == 1:
            return replace(config, gradient_method="device", use_device_gradient=True,
                           use_device_jacobian_product=True, grad_on_execution=False)
        return replace(config, use_device_gradient=False, use_device_jacobian_product=False)

    # ---------------------------------------------------------------- execution
    def execute(self, circuits: Sequence[qml.tape.QuantumScript],
                execution_config: ExecutionConfig | None = None) -> tuple:
        tapes = [self._standard_wires(t) for t in circuits]
        values = [tape_values(t) for t in tapes]
        evaluated = self._evaluate(tapes, [v.values for v in values])
        return tuple(_read(kind, compiled, tape, output, v.batch_size)
                     for tape, v, (kind, compiled, output) in zip(tapes, values, evaluated, strict=True))

    def _evaluate(self, tapes: Sequence[qml.tape.QuantumScript],
                  rows: Sequence[np.ndarray]) -> list[tuple[str, Compiled, np.ndarray]]:
        """Run ``rows[i]`` (angle rows, ``(n_i, n_params)``) through tape ``i``'s structure.

        Tapes of equal structure share one PUB; all PUBs of a kind go in one primitive job.

        Returns:
            Per tape: its kind, its compiled structure and the primitive output for its rows
            (expectation values ``(n_i, n_obs)``, states ``(n_i, 2**n)`` or samples ``(n_i, shots, n)``).
        """
        groups: OrderedDict[Any, list[int]] = OrderedDict()
        for i, tape in enumerate(tapes):
            groups.setdefault(structure_key(tape, self._kind(tape)), []).append(i)
        plans: dict[str, list[tuple[Compiled, list[int], engines.Pub]]] = {"estimator": [], "state": [],
                                                                            "sampler": []}
        for key, members in groups.items():
            if not sum(rows[i].shape[0] for i in members):  # nothing to run (no shiftable angle): no PUB
                continue
            compiled = self._compiled(key, tapes[members[0]])
            stacked = np.concatenate([rows[i] for i in members], axis=0)
            pub = engines.Pub(compiled.circuit, stacked[:, compiled.columns], compiled.observables,
                              tapes[members[0]].shots.total_shots)
            plans[compiled.kind].append((compiled, members, pub))

        results: list[Any] = [(None, None, np.zeros((0, 0)))] * len(tapes)
        jobs = pub_rows = shots = 0
        for kind, plan in plans.items():
            if not plan:
                continue
            outputs = self._run(kind, [pub for _, _, pub in plan])
            jobs += 1
            for (compiled, members, pub), output in zip(plan, outputs, strict=True):
                pub_rows += pub.rows
                shots += pub.rows * (pub.shots or 0)
                start = 0
                for i in members:
                    n = rows[i].shape[0]
                    results[i] = (kind, compiled, output[start:start + n])
                    start += n
        if self.tracker.active:
            self.tracker.update(primitive_jobs=jobs, pub_rows=pub_rows, circuit_shots=shots)
            self.tracker.record()
        return results

    # ---------------------------------------------------------------- derivatives
    def supports_derivatives(self, execution_config: ExecutionConfig | None = None,
                             circuit: qml.tape.QuantumScript | None = None) -> bool:
        """The device's own batched parameter-shift serves ``"device"``, and ``"best"`` and ``"parameter-shift"``
        wherever it covers every trainable parameter (gate angles; one shot number). Elsewhere (a trainable
        Hamiltonian coefficient or matrix, shot vectors) those two fall back to PennyLane's parameter-shift
        transform. ``"adjoint"`` and ``"backprop"`` need a simulator's internal state, which a Qiskit backend
        does not expose: not supported (PennyLane then refuses them when the QNode is built).
        """
        if execution_config is None:
            return True
        method = execution_config.gradient_method
        if method not in DEVICE_GRADIENT_METHODS or execution_config.derivative_order != 1:
            return False
        return method == "device" or circuit is None or device_differentiable(circuit)

    def supports_vjp(self, execution_config: ExecutionConfig | None = None,
                     circuit: qml.tape.QuantumScript | None = None) -> bool:
        return self.supports_derivatives(execution_config, circuit)

    def compute_vjp(self, circuits: Sequence[qml.tape.QuantumScript], cotangents: Sequence[Any],
                    execution_config: ExecutionConfig | None = None) -> tuple:
        """Vector-Jacobian products by the parameter-shift rule, all shifted rows in one job per kind.

        Gradients reach every trainable gate angle, broadcast ones (a batch of inputs) included: the
        shifted rows of a broadcast angle change it in every row at once, and row ``b``'s outputs depend
        on row ``b``'s angle only.
        """
        tapes = [self._standard_wires(t) for t in circuits]
        values = [tape_values(t) for t in tapes]
        plans = [shift_plan(t, v.values) for t, v in zip(tapes, values, strict=True)]
        # variances need the unshifted rows too (d var = d<O²> − 2<O> d<O>); other results do not. A tape with no
        # shifted row (its only trainable angle a global phase) has zero derivatives and sends nothing.
        rows = [np.concatenate([v.values, p.rows]) if _has_variance(t) and len(p.rows) else p.rows
                for t, v, p in zip(tapes, values, plans, strict=True)]
        evaluated = self._evaluate(tapes, rows)
        return tuple(_vjp(kind, compiled, tape, output, v, plan, dy)
                     for tape, v, plan, (kind, compiled, output), dy
                     in zip(tapes, values, plans, evaluated, cotangents, strict=True))

    def _standard_wires(self, tape: qml.tape.QuantumScript) -> qml.tape.QuantumScript:
        if self.wires.labels == tuple(range(len(self.wires))):
            return tape
        (mapped,), _ = qml.map_wires(tape, {w: i for i, w in enumerate(self.wires)})
        mapped.trainable_params = tape.trainable_params
        return mapped

    def _kind(self, tape: qml.tape.QuantumScript) -> str:
        pauli_only = all(isinstance(m, ExpectationMP | VarianceMP) and m.obs is not None and m.obs.pauli_rep
                         is not None for m in tape.measurements)
        if not tape.shots:
            if not self._ideal:
                where = f"profile {self.profile.name!r} (backend {self.backend.name})" if self.profile else \
                    f"backend {self.backend.name}"
                raise DeviceError(f"bridge.qiskit on {where} has no exact mode: a noisy simulator or hardware "
                                  "only samples; set shots (qml.set_shots, or the profile's 'shots')")
            return "estimator" if pauli_only else "state"
        if tape.shots.has_partitioned_shots or self._is_aer or not pauli_only:
            return "sampler"
        return "estimator"

    def cache_len(self) -> int:
        """Number of compiled structures held (at most ``cache_size``)."""
        return len(self._cache)

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
        isa = circuit if self._ideal else self._transpile(circuit)
        columns = np.array([p.index for p in isa.parameters], dtype=int)
        if kind == "state":  # exact only: the save instruction is part of the structure
            return Compiled(kind, engines.prepare_exact(isa), columns)
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
        if self._ideal:  # exact expectation values: Aer's save instructions are part of the structure
            isa = engines.prepare_exact(isa, observables)
        return Compiled(kind, isa, columns, tuple(observables), tuple(readout))

    def _transpile(self, circuit: Any) -> Any:
        if self._pass_manager is None:
            from qiskit.transpiler import generate_preset_pass_manager

            self._pass_manager = generate_preset_pass_manager(backend=self.backend, **self._pass_manager_options)
        return self._pass_manager.run(circuit)

    def _run_job(self, submit: Callable[[], Any], *, read: Callable[[Any], Any] | None = None) -> Any:
        """Run one primitive job under the device's retry policy, counting retries in the tracker."""

        def count_retry(_attempt: int) -> None:
            if self.tracker.active:
                self.tracker.update(job_retries=1)

        return run_job(submit, self.retry_policy, read=read, describe=f"{self.name} job on {self.backend.name}",
                       on_retry=count_retry)

    def _run(self, kind: str, pubs: list[engines.Pub]) -> list[np.ndarray]:
        if self.dry_run:
            return [engines.placeholder(kind, pub) for pub in pubs]
        if kind == "state":
            return engines.exact_statevectors(self._exact_simulator, pubs, self._run_job)
        if kind == "estimator" and self._ideal and pubs[0].shots is None:
            return engines.exact_expectations(self._exact_simulator, pubs, self._run_job)
        if kind == "estimator":
            if self._estimator is None:
                from qiskit_ibm_runtime import EstimatorV2

                self._estimator = engines.RuntimeEstimator(
                    lambda seed: EstimatorV2(mode=self.runtime_mode(), options=self._options(seed, estimator=True)),
                    self._rng, self._run_job)
            return self._estimator.run(pubs)
        if self._sampler is None:
            self._sampler = engines.Sampler(self._sampler_factory(), self._rng, self._run_job)
        return self._sampler.run(pubs)

    @property
    def rng_state(self) -> dict[str, Any]:
        """The state of the sampling seeds' generator (saved in training checkpoints)."""
        return self._rng.bit_generator.state

    @rng_state.setter
    def rng_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state

    def _sampler_factory(self) -> Callable[[int], Any]:
        if self._is_aer:
            from qiskit_aer.primitives import SamplerV2

            return lambda seed: SamplerV2.from_backend(self.backend, seed=seed)
        from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler

        return lambda seed: RuntimeSampler(mode=self.runtime_mode(), options=self._options(seed, estimator=False))

    def runtime_mode(self) -> Any:
        """What runtime primitives run in: the backend (``"job"``), or one ``Batch``/``Session`` for the
        device's lifetime (opened on first use)."""
        if self.execution_mode == "job":
            return self.backend
        if self._mode is None:
            from qiskit_ibm_runtime import Batch, Session

            self._mode = (Batch if self.execution_mode == "batch" else Session)(backend=self.backend)
        return self._mode

    def close(self) -> None:
        """Close the runtime Batch or Session, if one was opened."""
        if self._mode is not None:
            self._mode.close()
            self._mode = None

    def _options(self, seed: int, *, estimator: bool) -> dict[str, Any]:
        """Runtime primitive options: the profile's, and a per-job simulator seed on local (fake) backends."""
        options = {k: v for k, v in self.runtime_options.items() if estimator or k not in ESTIMATOR_ONLY_OPTIONS}
        if _is_local(self.backend):
            options["simulator"] = {**options.get("simulator", {}), "seed_simulator": seed}
        return options


def _rebuild_device(init_args: dict[str, Any], rng_state: dict[str, Any]) -> QiskitBatchDevice:
    """Unpickling of :class:`QiskitBatchDevice`: the same construction arguments, the same sampling RNG state."""
    args = dict(init_args)
    device = QiskitBatchDevice(args.pop("wires"), args.pop("shots"), **args)
    device.rng_state = rng_state
    return device


# Options of the runtime EstimatorV2 that its SamplerV2 does not take.
ESTIMATOR_ONLY_OPTIONS = frozenset({"resilience_level", "resilience", "default_precision", "seed_estimator"})


class WiresError(DeviceError, ProfileError):
    """More wires than the backend has qubits (a PennyLane ``DeviceError`` and a bridge ``ProfileError``)."""


def _is_local(backend: Any) -> bool:
    """Whether runtime primitives run ``backend`` locally (a fake backend), not on IBM Quantum."""
    from qiskit_ibm_runtime import IBMBackend

    return not isinstance(backend, IBMBackend)


def _validated_runtime_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` if the runtime's ``EstimatorOptions`` accepts them, else a ``ProfileError`` saying why."""
    if not options:
        return {}
    from pydantic import ValidationError
    from qiskit_ibm_runtime.options import EstimatorOptions

    try:
        EstimatorOptions(**options)
    except (ValidationError, TypeError, ValueError) as e:
        raise ProfileError(f"invalid [ibm.options] for the runtime EstimatorV2: {e}".replace("\n", " ")) from e
    return dict(options)


def device_differentiable(tape: qml.tape.QuantumScript) -> bool:
    """Whether the device's shift rule covers every trainable parameter of ``tape`` (before decomposition):
    operation data that are not matrices or states, no trainable observable coefficient, one shot number."""
    if tape.shots.has_partitioned_shots:
        return False
    trainable = set(tape.trainable_params)
    index = 0
    for op in tape.operations:
        for _ in op.data:
            if index in trainable and op.name in NOT_ANGLES:
                return False
            index += 1
    return all(i < index for i in trainable)


def _is_sum_variance(m: Any) -> bool:
    """A variance of an observable with several Pauli terms (which ``split_non_commuting`` cannot split)."""
    return (isinstance(m, VarianceMP) and m.obs is not None and m.obs.pauli_rep is not None
            and len([w for w in m.obs.pauli_rep if len(w)]) > 1)


@qml.transform
def variance_of_sums(tape: qml.tape.QuantumScript) -> tuple[list[qml.tape.QuantumScript], Callable]:
    """With shots, ``var(O)`` of a Pauli sum ``O = Σ c_i P_i`` becomes ``⟨O²⟩ − ⟨O⟩²``: two Pauli-sum expectation
    values that ``split_non_commuting`` measures in qubit-wise commuting groups (hardware-friendly; no basis
    change into O's eigenbasis). Exact tapes keep the variance (the exact readers compute it directly).
    """
    if not tape.shots or not any(_is_sum_variance(m) for m in tape.measurements):
        return [tape], lambda results: results[0]
    measurements: list[Any] = []
    slots: list[tuple[int, int | None]] = []  # per original measurement: index of ⟨O⟩ (or itself), of ⟨O²⟩
    for m in tape.measurements:
        if _is_sum_variance(m):
            rep = m.obs.pauli_rep
            square = rep @ rep  # Hermitian: the imaginary parts of P_i P_j + P_j P_i cancel
            square = PauliSentence({w: float(np.real(c)) for w, c in square.items() if abs(c) > 1e-12})
            measurements += [qml.expval(rep.operation(wire_order=m.obs.wires)),
                             qml.expval(square.operation(wire_order=m.obs.wires))]
            slots.append((len(measurements) - 2, len(measurements) - 1))
        else:
            measurements.append(m)
            slots.append((len(measurements) - 1, None))
    rewritten = tape.copy(measurements=measurements)
    single = len(tape.measurements) == 1

    def combine(values: Sequence[Any]) -> Any:
        values = [values] if len(measurements) == 1 else values
        out = [values[i] if square is None else values[square] - values[i] ** 2 for i, square in slots]
        return out[0] if single else tuple(out)

    def postprocess(results: Sequence[Any]) -> Any:
        (result,) = results
        if tape.shots.has_partitioned_shots:
            return tuple(combine(r) for r in result)
        return combine(result)

    return [rewritten], postprocess


@qml.transform
def split_when_sampling(tape: qml.tape.QuantumScript) -> tuple[list[qml.tape.QuantumScript], Callable]:
    """``split_non_commuting`` for tapes with shots only (samples need one basis per tape).

    Exact tapes keep every measurement: the exact readers handle any mix of observables, and not
    splitting keeps Hamiltonian coefficients out of the interface's (float32) post-processing.
    """
    if tape.shots:
        return split_non_commuting(tape)
    return [tape], lambda results: results[0]


def _per_measurement(kind: str, measurements: Sequence[Any], output: np.ndarray,
                     shots: slice = slice(None)) -> list[np.ndarray]:
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
    return [[v] if isinstance(v, dict) else np.asarray(v)[None] for v in values]


def _read(kind: str, compiled: Compiled, tape: qml.tape.QuantumScript, output: np.ndarray,
          batch_size: int | None) -> Any:
    """Turn a tape's rows of primitive output into PennyLane's result structure."""

    def pack(per_mp: list[np.ndarray]) -> Any:
        per_mp = [v if batch_size is not None else v[0] for v in per_mp]
        return per_mp[0] if len(per_mp) == 1 else tuple(per_mp)

    if kind == "estimator":
        return pack([output[:, j] if square is None else output[:, square] - output[:, j] ** 2
                     for j, square in compiled.readout])
    if kind == "state" or not tape.shots.has_partitioned_shots:
        return pack(_per_measurement(kind, tape.measurements, output))
    return tuple(pack(_per_measurement(kind, tape.measurements, output, slice(lower, upper)))
                 for lower, upper in tape.shots.bins())


def _has_variance(tape: qml.tape.QuantumScript) -> bool:
    return any(isinstance(m, VarianceMP) for m in tape.measurements)


def _moments(kind: str, compiled: Compiled, tape: qml.tape.QuantumScript,
             output: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
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
            raise DeviceError(f"bridge.qiskit cannot differentiate {m} (only expectation values, variances and "
                              "probabilities): use diff_method='parameter-shift' or do not differentiate it")
    return linear


def _vjp(kind: str, compiled: Compiled, tape: qml.tape.QuantumScript, output: np.ndarray, values: TapeValues,
         plan: ShiftPlan, cotangent: Any) -> tuple:
    """One tape's vector-Jacobian product from its shifted blocks (after its base rows, for variances)."""
    if not plan.terms:
        return ()
    n = values.values.shape[0]
    if not len(plan.rows):  # no shiftable angle among the trainable ones: exact zeros, and no job was sent
        return tuple(np.zeros(n) if broadcast else np.float64(0.0) for broadcast in plan.broadcast)
    if tape.shots.has_partitioned_shots:
        raise DeviceError("bridge.qiskit's device gradients do not support shot vectors; give one shot number")
    offset = n if _has_variance(tape) else 0
    moments = _moments(kind, compiled, tape, output)
    dys = [np.asarray(cotangent)] if len(tape.measurements) == 1 else [np.asarray(d) for d in cotangent]

    def shifted(rows: np.ndarray, terms: tuple[tuple[int, float], ...]) -> np.ndarray:
        """Σ_j c_j f(block_j): the derivative of ``rows``' quantity, shape (n, ...)."""
        return sum(c * rows[offset + n * k: offset + n * (k + 1)] for k, c in terms)

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
