"""``bridge.qiskit``: a PennyLane device that runs a whole batch of tapes in one Qiskit primitive job.

The class only wires PennyLane's Device API to plain parts: :mod:`~bridge.qiskit.transforms` (preprocessing),
:mod:`~bridge.qiskit.compile` (structure → ISA circuit, cached), :mod:`~bridge.qiskit.shift` (the
parameter-shift rule as more rows), :mod:`~bridge.qiskit.batching` (tapes → one job per kind),
:mod:`~bridge.qiskit.runner` (primitives, retries, execution modes) and :mod:`~bridge.qiskit.readers`
(outputs → results and Jacobians).

Tracking follows ``qml.Tracker`` conventions; besides ``batches``/``executions``/``shots`` it records
``primitive_jobs``, ``pub_rows`` (circuits, one per parameter row), ``circuit_shots`` and ``job_retries``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.exceptions import DeviceError, PennyLaneDeprecationWarning, QuantumFunctionError
from pennylane.math import Interface
from pennylane.transforms.core import CompilePipeline

import bridge.pickling  # noqa: F401  (a QNode on this device pickles whole: PennyLane #2204)
from bridge.broadcast import split_broadcast
from bridge.exceptions import BridgeError
from bridge.qiskit import readers
from bridge.qiskit.batching import Counts, evaluate, tapes_and_kinds
from bridge.qiskit.compile import NOT_NATIVE_TO_AER, SUPPORTED_OPERATIONS, Compiler
from bridge.qiskit.fused import ForwardOutputs, Prepared, Send, prepare
from bridge.qiskit.runner import Runner
from bridge.qiskit.settings import DeviceSettings, DeviceWiresError, device_settings
from bridge.qiskit.transforms import (
    DEVICE_GRADIENT_METHODS,
    UNSUPPORTED_GRADIENT_METHODS,
    device_differentiable,
    device_program,
)


class UnsupportedDiffMethodError(QuantumFunctionError, BridgeError):
    """A QNode on ``bridge.qiskit`` asks for ``diff_method="adjoint"`` or ``"backprop"`` (the message names the methods
    that work)."""

    def __init__(self, method: str) -> None:
        super().__init__(
            f"bridge.qiskit does not support {method} differentiation (diff_method={method!r}): it needs a "
            "simulator's internal state, which a Qiskit backend (and hardware) does not expose. Use "
            '"device", "best" or "parameter-shift" (the device\'s batched parameter-shift rule), or '
            '"finite-diff" or "spsa" (PennyLane\'s transforms, run through the device)'
        )


@simulator_tracking
@single_tape_support
class QiskitBatchDevice(Device):
    """Batched Qiskit execution for PennyLane (``qml.device("bridge.qiskit", wires=4, profile="aer")``).

    Args:
        wires: number of wires or their labels.
        shots: default shots (``None``: the profile's, else exact); ``qml.set_shots`` on a QNode overrides them.
        profile: a device profile (name, path or :class:`~bridge.profiles.Profile`): backend, shots, seed,
            transpiler, retry and runtime options.
        backend: a Qiskit backend to use instead of a profile's (``AerSimulator``, a fake or IBM backend).
        seed: seed of the sampling: each job (each tape, for shots the bridge draws from the ideal simulator's
            probabilities) draws its own seed from it.
        optimization_level: transpiler optimization level (default 1).
        seed_transpiler: transpiler seed.
        cache_size: compiled structures kept (least recently used ones are dropped; default 256).
        retries: attempts after a primitive job's first transient failure (see :mod:`bridge.qiskit.retry`).
        retry_backoff: seconds before the first retry, doubled before each further one.
        job_timeout: seconds to wait for one job's result (``None``: no limit).
        execution_mode: runtime primitives in their own jobs (``"job"``) or in one ``"batch"``/``"session"``.
        runtime_options: options of the runtime ``EstimatorV2`` (``SamplerV2`` gets those it has).
        dry_run: count jobs, PUB rows and shots in the tracker without running any circuit (results are zeros).
        fuse_gradient: one job per training step (default): PennyLane asks for results and Jacobians together
            (``grad_on_execution``), and the forward job also runs the shifted rows of every differentiated
            tape; ``False``: the backward pass sends them in a job of its own.
        threads: threads of the device's Aer runs (default: this process's share of the cores, shared among
            torchrun's local ranks; :mod:`bridge.qiskit.cores`).
        workers: processes that run the ideal simulator's exact jobs of 256 rows and more (default: as many as
            ``threads``; 1: this process alone; :mod:`bridge.qiskit.workers`). Only a plain ``AerSimulator`` on
            CPU runs in workers (a subclass keeps its own ``run`` in this process). No value depends on it.

    Attributes:
        settings: what the device was built from (:class:`~bridge.qiskit.settings.DeviceSettings`).
        compiler: the compiled structures (``len(compiler)``, ``compiler.stats``: cache hits and misses).

    Keyword arguments left out (``None``) come from the profile, then from the defaults.

    Raises:
        DeviceWiresError: more wires than the backend has qubits.
        ProfileError: a profile of another device, an invalid execution mode or runtime options.
    """

    name = "bridge.qiskit"
    config_filepath = None

    def __init__(
        self,
        wires: Any,
        shots: Any = None,
        *,
        profile: Any = None,
        backend: Any = None,
        seed: int | None = None,
        optimization_level: int | None = None,
        seed_transpiler: int | None = None,
        cache_size: int | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
        job_timeout: float | None = None,
        execution_mode: str | None = None,
        runtime_options: dict[str, Any] | None = None,
        dry_run: bool | None = None,
        fuse_gradient: bool | None = None,
        threads: int | None = None,
        workers: int | None = None,
    ) -> None:
        # the construction arguments, as given (pickling rebuilds the device from them)
        self._init_args = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        if wires is None:
            raise DeviceError(
                "bridge.qiskit needs wires (the number of qubits or their labels); "
                "dynamically allocated wires are not supported"
            )
        n_wires = wires if isinstance(wires, int) else len(wires)
        settings = device_settings(n_wires, **{k: v for k, v in self._init_args.items() if k != "wires"})
        with warnings.catch_warnings():  # a profile's shots are this device's default (bridge.device_factory.device)
            if shots is None:
                warnings.filterwarnings("ignore", "Setting shots on device is deprecated", PennyLaneDeprecationWarning)
            super().__init__(wires=wires, shots=settings.shots)
        self.settings = settings
        self.backend = settings.backend
        self._operations = SUPPORTED_OPERATIONS - (NOT_NATIVE_TO_AER if settings.ideal else frozenset())
        self.compiler = Compiler(
            self.backend,
            n_wires,
            ideal=settings.ideal,
            aer=settings.sampler_only,
            optimization_level=settings.optimization_level,
            seed_transpiler=settings.seed_transpiler,
            cache_size=settings.cache_size,
        )
        self._runner = Runner(
            self.backend,
            ideal=settings.ideal,
            retry=settings.retry,
            seed=settings.seed,
            execution_mode=settings.execution_mode,
            runtime_options=settings.runtime_options,
            dry_run=settings.dry_run,
            on_retry=self._count_retry,
            threads=settings.threads,
            workers=settings.workers,
        )
        self._forward = ForwardOutputs()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its construction arguments (rebuilt, compile cache and runtime Batch/Session not carried
        over), so a whole model that holds one goes through ``torch.save``/``copy.deepcopy``; the sampling seeds'
        generator continues where it was."""
        return (_rebuild_device, (self._init_args, self.rng_state))

    # ------------------------------------------------------------ preprocessing
    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        program = device_program(self.wires, self._operations, execution_config)
        if (
            execution_config is not None
            and execution_config.gradient_method == "device"
            and execution_config.interface == Interface.TORCH
        ):
            # a tape whose broadcast inputs are trainable runs one tape per sample (their rows still share one
            # PUB): PennyLane contracts a broadcast tape's Jacobian into one number per parameter
            # (qml.gradients.compute_vjp_single), where a per-sample input needs one per sample. device_program
            # splits such tapes for the other interfaces; a second split finds nothing left to split.
            program.add_transform(_split_differentiated_broadcast)
        return program

    def setup_execution_config(
        self, config: ExecutionConfig | None = None, circuit: qml.tape.QuantumScript | None = None
    ) -> ExecutionConfig:
        config = config or ExecutionConfig()
        if config.gradient_method in DEVICE_GRADIENT_METHODS and config.derivative_order == 1:
            # PennyLane's DeviceDerivatives (pennylane/workflow/jacobian_products.py): fused, its forward pass
            # calls execute_and_compute_derivatives and caches the Jacobians for the backward pass; two-job mode,
            # execute, then compute_derivatives in the backward pass (bridge.qiskit.fused)
            return replace(
                config,
                gradient_method="device",
                use_device_gradient=True,
                use_device_jacobian_product=False,
                grad_on_execution=self.settings.fuse_gradient,
            )
        return replace(config, use_device_gradient=False, use_device_jacobian_product=False)

    def supports_derivatives(
        self, execution_config: ExecutionConfig | None = None, circuit: qml.tape.QuantumScript | None = None
    ) -> bool:
        """``"device"``, and ``"best"``/``"parameter-shift"`` where the device's rule covers every trainable
        parameter (else PennyLane's transform answers them); see :mod:`bridge.qiskit.transforms`.

        Raises:
            UnsupportedDiffMethodError: ``"adjoint"``/``"backprop"`` for a QNode being built or a circuit being
                run; asked without a circuit otherwise (PennyLane's device suite, to skip its tests), ``False``.
        """
        if execution_config is None:
            return True
        method = execution_config.gradient_method
        if method in UNSUPPORTED_GRADIENT_METHODS and (circuit is not None or _asked_by_a_new_qnode()):
            raise UnsupportedDiffMethodError(method)
        if method not in DEVICE_GRADIENT_METHODS or execution_config.derivative_order != 1:
            return False
        return method == "device" or circuit is None or device_differentiable(circuit)

    # ------------------------------------------------------------ execution
    def execute(
        self, circuits: Sequence[qml.tape.QuantumScript], execution_config: ExecutionConfig | None = None
    ) -> tuple:
        """Results of every tape, one job per kind. In two-job mode (``fuse_gradient = false``) a tape that will be
        differentiated keeps its outputs for :meth:`compute_derivatives` (:class:`~bridge.qiskit.fused.ForwardOutputs`:
        the backward job sends its shifted rows alone)."""
        prepared = [
            prepare(t, k, shifted=False, stream=self._runner.stream(k)) for t, k in self._tapes_and_kinds(circuits)
        ]
        evaluated = self._evaluate([(p, p.rows) for p in prepared])
        if (  # an ML interface asks for gradients later; a NumPy call marks every parameter trainable
            execution_config is not None
            and execution_config.gradient_method == "device"
            and execution_config.interface != Interface.NUMPY
        ):
            self._forward.keep(list(zip(prepared, evaluated, strict=True)))
        return tuple(_read(p, e) for p, e in zip(prepared, evaluated, strict=True))

    def execute_and_compute_derivatives(
        self, circuits: Sequence[qml.tape.QuantumScript], execution_config: ExecutionConfig | None = None
    ) -> tuple[tuple, tuple]:
        """Results and Jacobians (parameter-shift rule) in one job per kind: every tape's own rows, then the shifted
        rows of its trainable angles; a tape with nothing trainable (an evaluation) sends its own rows only."""
        prepared = [
            prepare(t, k, shifted=True, required=True, stream=self._runner.stream(k))
            for t, k in self._tapes_and_kinds(circuits)
        ]
        pairs = list(zip(prepared, self._evaluate([(p, p.rows) for p in prepared]), strict=True))
        return tuple(_read(p, e) for p, e in pairs), tuple(_jacobian(p, e) for p, e in pairs)

    def compute_derivatives(
        self, circuits: Sequence[qml.tape.QuantumScript], execution_config: ExecutionConfig | None = None
    ) -> tuple:
        """Jacobians by the parameter-shift rule (two-job mode's backward pass): the shifted rows alone where
        :meth:`execute` kept the forward outputs, else the tapes' own rows too, in one job per kind (a tape with no
        shifted row, its only trainable angle a global phase, sends nothing: its derivatives are 0)."""
        pairs = self._forward.resolve(self._tapes_and_kinds(circuits), self._evaluate, self._runner.stream)
        return tuple(_jacobian(p, e) for p, e in pairs)

    def _tapes_and_kinds(self, circuits: Sequence[qml.tape.QuantumScript]) -> list[tuple[Any, str]]:
        return tapes_and_kinds(circuits, self.wires, self.settings)

    def _evaluate(self, sends: Sequence[Send]) -> list[Any]:
        if not sends:
            return []
        tapes, kinds, rows, streams = zip(*((p.tape, p.kind, r, p.stream) for p, r in sends), strict=True)
        evaluated, counts = evaluate(tapes, rows, kinds, self.compiler, self._runner, streams)
        self._track(counts)
        return evaluated

    def _track(self, counts: Counts) -> None:
        if self.tracker.active:
            self.tracker.update(primitive_jobs=counts.jobs, pub_rows=counts.pub_rows, circuit_shots=counts.shots)
            self.tracker.record()

    def _count_retry(self, _attempt: int) -> None:
        if self.tracker.active:
            self.tracker.update(job_retries=1)

    # ------------------------------------------------------------ state the training loop saves and closes
    @property
    def rng_state(self) -> dict[str, Any]:
        """The state of the sampling seeds' generator (saved in training checkpoints)."""
        return dict(self._runner.rng.bit_generator.state)

    @rng_state.setter
    def rng_state(self, state: dict[str, Any]) -> None:
        self._runner.rng.bit_generator.state = state

    def runtime_mode(self) -> Any:
        """What runtime primitives run in: the backend, or the device's ``Batch``/``Session``."""
        return self._runner.runtime_mode()

    def close(self) -> None:
        """Close the runtime Batch or Session, if one was opened."""
        self._runner.close()


def _read(p: Prepared, e: Any) -> Any:
    """A prepared tape's results from its evaluated rows (its own rows come first)."""
    return readers.read(e.kind, e.compiled, p.tape, e.output[: len(p.values.values)], p.values.batch_size)


def _jacobian(p: Prepared, e: Any) -> tuple:
    """A prepared tape's Jacobian from its evaluated rows (its own and its shifted ones)."""
    return readers.jacobian(e.kind, e.compiled, p.tape, e.output, p.values, p.plan)


@qml.transform
def _split_differentiated_broadcast(tape: qml.tape.QuantumScript) -> tuple[list[qml.tape.QuantumScript], Any]:
    """:func:`~bridge.broadcast.split_broadcast` of a torch tape whose broadcast inputs require gradients (torch
    marks a tape's trainable parameters after the device's preprocessing: until then, every one is)."""
    if tape.batch_size is None:
        return [tape], lambda results: results[0]
    marked = tape.copy()
    marked.trainable_params = qml.math.get_trainable_indices(tape.get_parameters(trainable_only=False))
    return split_broadcast.tape_transform(marked, always=False)


def _asked_by_a_new_qnode() -> bool:
    """Whether ``QNode(..., diff_method=...)`` is asking: PennyLane validates the method there with the same
    circuit-less question its device suite asks, and answers ``False`` with a message that names no method that
    works; the caller's module tells the two apart."""
    frame = sys._getframe(2)  # 0: here, 1: supports_derivatives, 2: its caller
    return frame.f_globals.get("__name__") == "pennylane.workflow.qnode"


def _rebuild_device(init_args: dict[str, Any], rng_state: dict[str, Any]) -> QiskitBatchDevice:
    """Unpickling of :class:`QiskitBatchDevice`: the same construction arguments, the same sampling RNG state."""
    args = dict(init_args)
    device = QiskitBatchDevice(args.pop("wires"), args.pop("shots"), **args)
    device.rng_state = rng_state
    return device


__all__ = ["DeviceSettings", "DeviceWiresError", "QiskitBatchDevice", "UnsupportedDiffMethodError"]
