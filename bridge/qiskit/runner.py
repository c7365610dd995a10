"""Run compiled PUBs as primitive jobs: one job per call, under a retry policy, in the profile's execution mode.

Which primitive runs a kind of PUB:

* ``"estimator"`` without shots on the ideal simulator, ``"state"``: Aer itself, with the save instructions
  compiled into the circuits (:func:`~bridge.qiskit.primitives.exact_expectations`, ``exact_statevectors``);
* ``"counts"`` on the ideal simulator: Aer saves each row's exact probabilities (one run, parameters bound
  inside the simulator) and the shots are drawn from them, one multinomial per row; elsewhere, and
  ``"samples"``: Aer's ``SamplerV2`` on an Aer backend, qiskit-ibm-runtime's ``SamplerV2`` otherwise;
* ``"estimator"`` with shots: qiskit-ibm-runtime's ``EstimatorV2`` (IBM backends, or fake ones in local mode).

Runtime primitives run in the backend itself (``"job"``), or in one ``Batch``/``Session`` opened on first use
and closed by :meth:`Runner.close`. A dry run returns zeros of the right shapes and submits nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bridge.exceptions import ProfileError
from bridge.profiles import EXECUTION_MODES
from bridge.qiskit import primitives
from bridge.qiskit.retry import RetryPolicy, run_job

# Options of the runtime EstimatorV2 that its SamplerV2 does not take.
ESTIMATOR_ONLY_OPTIONS = frozenset({"resilience_level", "resilience", "default_precision", "seed_estimator"})


class Runner:
    """Submits one primitive job per :meth:`run` call.

    Args:
        backend: the Qiskit backend.
        ideal: the backend is the ideal (noiseless, unconstrained) ``AerSimulator``.
        retry: retries, backoff and per-job timeout.
        seed: seed of the generator that draws each job's sampling seed.
        execution_mode: ``"job"``, ``"batch"`` or ``"session"`` (runtime primitives only).
        runtime_options: options of the runtime ``EstimatorV2`` (and of ``SamplerV2`` where it takes them).
        dry_run: return zeros instead of submitting.
        on_retry: called before each retry (the device counts retries in its tracker).
        threads: threads of Aer runs (``None``: this process's share of the cores, :mod:`bridge.qiskit.cores`).
        workers: processes that run the ideal simulator's exact jobs (``None``: as many as ``threads``; 1: this
            process alone; :mod:`bridge.qiskit.workers`), each with ``threads // workers`` threads.

    Raises:
        ProfileError: an unknown execution mode, or options the runtime's ``EstimatorOptions`` refuses.
    """

    def __init__(
        self,
        backend: Any,
        *,
        ideal: bool,
        retry: RetryPolicy,
        seed: int | None,
        execution_mode: str,
        runtime_options: dict[str, Any],
        dry_run: bool,
        on_retry: Callable[[int], None] | None = None,
        threads: int | None = None,
        workers: int | None = None,
    ) -> None:
        from qiskit_aer import AerSimulator

        from bridge.qiskit.cores import thread_budget

        if execution_mode not in EXECUTION_MODES:
            raise ProfileError(f"execution_mode {execution_mode!r} is not one of {', '.join(EXECUTION_MODES)}")
        self.backend = backend
        self.ideal = ideal
        self.retry = retry
        self.execution_mode = execution_mode
        self.runtime_options = validated_runtime_options(runtime_options)
        self.dry_run = dry_run
        self.on_retry = on_retry
        self.rng = np.random.default_rng(seed)
        self._is_aer = isinstance(backend, AerSimulator)
        # exact results (and the ideal simulator's probabilities) from the backend itself (its device, GPU included,
        # and its options), parameters bound inside Aer (runtime_parameter_bind_enable, a run option: about 2x faster
        # than binding each experiment in Python, measured); "automatic" would be free to pick another method
        self.exact_simulator = backend if ideal else None
        self._exact_options: dict[str, Any] = (
            {"method": "statevector"} if ideal and backend.options.method == "automatic" else {}
        )
        # Aer runs a job's experiments on this process's share of the cores (a stacked run scales: W3 at 4 qubits,
        # batch 256, 1.33x on 2 threads; 14 qubits 2.0x); None where Aer does not run the job
        self.threads = thread_budget(threads) if self._is_aer else None
        self._parallel = {"max_parallel_threads": self.threads, "max_parallel_experiments": self.threads}
        if self._is_aer:
            self._exact_options.update(self._parallel)
        # exact jobs of the ideal CPU simulator run in worker processes where more than one core is given: Aer's
        # per-experiment work is serial inside one process, and processes scale further than threads (benchmarks/run.py)
        self.workers = 1
        self.pool: Any = None
        # only Aer's own simulator class: a subclass (a user's, or a test's) may override run(), which a copy in
        # another process would bypass
        if ideal and type(backend) is AerSimulator and backend.options.device == "CPU" and self.threads is not None:
            from bridge.qiskit.workers import shared_pool

            self.workers = max(1, workers if workers is not None else self.threads)
            if self.workers > 1:
                self.pool = shared_pool(backend, self.workers, max(1, self.threads // self.workers))
        self._worker_options = {k: v for k, v in self._exact_options.items() if k not in self._parallel}
        self._sampler: primitives.Sampler | None = None
        self._estimator: primitives.RuntimeEstimator | None = None
        self._mode: Any = None
        self._reduced: dict[frozenset[int], Any] = {}

    def run(self, kind: str, pubs: Sequence[primitives.Pub]) -> list[np.ndarray]:
        """Outputs of ``pubs`` (all of one kind) from one primitive job; see :mod:`bridge.qiskit.primitives`."""
        if self.dry_run:
            return [primitives.placeholder(kind, pub) for pub in pubs]
        primitives.check_job_memory(kind, pubs)
        if kind == "state":
            return primitives.in_wire_order(pubs, self._saved(pubs), "statevector")
        if kind == "estimator" and self.ideal and pubs[0].shots is None:
            return primitives.expectations_from_saved(pubs, self._saved(pubs))
        if kind == "counts" and self.ideal:
            probabilities = primitives.in_wire_order(pubs, self._saved(pubs), "probabilities")
            # one seed for the job, drawn only if a PUB has no per-tape generators (the device's own stays in step)
            draw = None if all(pub.streams for pub in pubs) else np.random.default_rng(int(self.rng.integers(2**31)))
            return [primitives.sample_pub_counts(p, pub, draw) for p, pub in zip(probabilities, pubs, strict=True)]
        if kind == "estimator":
            if self._estimator is None:
                from qiskit_ibm_runtime import EstimatorV2

                self._estimator = primitives.RuntimeEstimator(
                    lambda seed: EstimatorV2(mode=self.runtime_mode(), options=self.options(seed, estimator=True)),
                    self.rng,
                    self._run_job,
                )
            return self._estimator.run(pubs)
        if self._is_aer and self.backend.options.noise_model is not None:  # noisy Aer: the noise of these qubits
            active = frozenset().union(*(pub.active_qubits for pub in pubs))
            simulator = self._noisy_simulator(active)
            if kind == "counts":
                seed = int(self.rng.integers(2**31))
                return primitives.measured_counts(simulator, pubs, seed, self._run_job)
            sampler = primitives.Sampler(lambda seed: _aer_sampler(simulator, seed), self.rng, self._run_job)
            return sampler.run(pubs, as_counts=kind == "counts")
        if self._sampler is None:
            self._sampler = primitives.Sampler(self._sampler_factory(), self.rng, self._run_job)
        return self._sampler.run(pubs, as_counts=kind == "counts")

    def _saved(self, pubs: Sequence[primitives.Pub]) -> primitives.Saved:
        """What the exact ``pubs`` save, run on the ideal simulator: in the workers from
        :data:`~bridge.qiskit.workers.MIN_ROWS` rows when there are several, else in this process."""
        from bridge.qiskit.workers import MIN_ROWS

        if self.pool is not None and sum(pub.rows for pub in pubs) >= MIN_ROWS:
            return self._run_job(lambda: self.pool.submit(pubs, self._worker_options))
        return primitives.saved_rows(self.exact_simulator, pubs, self._run_job, **self._exact_options)

    def stream(self, kind: str) -> np.random.Generator | None:
        """A tape's own generator for the shots the bridge draws itself (``"counts"`` on the ideal simulator),
        seeded from the runner's generator; ``None`` where the primitive draws them (seeded per job)."""
        if kind != "counts" or not self.ideal:
            return None
        return np.random.default_rng(int(self.rng.integers(2**63)))

    def _noisy_simulator(self, qubits: frozenset[int]) -> Any:
        """The noisy Aer backend with only the errors on ``qubits`` (the same outcomes for circuits that touch no
        other qubit; see :func:`bridge.backends.reduced_noise_model`), one per set of qubits."""
        if qubits not in self._reduced:
            import copy

            from bridge.backends import reduced_noise_model

            simulator = copy.deepcopy(self.backend)
            simulator.set_options(
                noise_model=reduced_noise_model(self.backend.options.noise_model, qubits),
                runtime_parameter_bind_enable=True,
                **self._parallel,
            )
            self._reduced[qubits] = simulator
        return self._reduced[qubits]

    def _run_job(self, submit: Callable[[], Any], *, read: Callable[[Any], Any] | None = None) -> Any:
        return run_job(
            submit, self.retry, read=read, describe=f"bridge.qiskit job on {self.backend.name}", on_retry=self.on_retry
        )

    def _sampler_factory(self) -> Callable[[int], Any]:
        if self._is_aer:
            return lambda seed: _aer_sampler(self.backend, seed)
        from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler

        return lambda seed: RuntimeSampler(mode=self.runtime_mode(), options=self.options(seed, estimator=False))

    def runtime_mode(self) -> Any:
        """What runtime primitives run in: the backend (``"job"``), or one ``Batch``/``Session`` for the
        runner's lifetime (opened on first use)."""
        if self.execution_mode == "job":
            return self.backend
        if self._mode is None:
            from qiskit_ibm_runtime import Batch, Session

            self._mode = (Batch if self.execution_mode == "batch" else Session)(backend=self.backend)
        return self._mode

    def close(self) -> None:
        """Close the runtime Batch or Session, if one was opened (a later job opens a new one)."""
        if self._mode is not None:
            mode, self._mode = self._mode, None
            self._estimator = self._sampler = None  # their factories captured the closed mode
            mode.close()

    def options(self, seed: int, *, estimator: bool) -> dict[str, Any]:
        """Runtime primitive options: the profile's, and a per-job simulator seed on local (fake) backends."""
        options = {k: v for k, v in self.runtime_options.items() if estimator or k not in ESTIMATOR_ONLY_OPTIONS}
        if is_local(self.backend):
            options["simulator"] = {**options.get("simulator", {}), "seed_simulator": seed}
        return options


def _aer_sampler(backend: Any, seed: int) -> Any:
    from qiskit_aer.primitives import SamplerV2

    return SamplerV2.from_backend(backend, seed=seed)


def is_local(backend: Any) -> bool:
    """Whether runtime primitives run ``backend`` locally (a fake backend), not on IBM Quantum."""
    from qiskit_ibm_runtime import IBMBackend

    return not isinstance(backend, IBMBackend)


def validated_runtime_options(options: dict[str, Any]) -> dict[str, Any]:
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
