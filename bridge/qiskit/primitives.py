"""Primitive calls: each function sends one whole batch (one or several PUBs) as one job.

Three ways to read a circuit, each one call for a whole batch of parameter rows:

* :func:`exact_expectations` — exact ⟨P⟩ for Pauli observables on an ideal ``AerSimulator`` (the
  ``save_expectation_value`` instructions Aer's ``EstimatorV2`` uses, but all PUBs in one simulator job,
  without that class's O(rows²) result lookup and its failure on parameter-free circuits with several rows);
* :func:`exact_statevectors` — the state vector of every row (for ``probs``, ``state``, non-Pauli
  observables), on an ideal ``AerSimulator``;
* :class:`Sampler` / :class:`RuntimeEstimator` — a ``SamplerV2`` or ``EstimatorV2`` primitive (Aer's, or
  qiskit-ibm-runtime's for IBM and fake IBM backends) with shots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Pauli, SparsePauliOp

from bridge.exceptions import InputError
from bridge.qiskit import stacking

# Submits a job (``submit()``) and returns ``read(result)``: plain by default, with retries in the device.
JobRunner = Callable[..., Any]


def run_once(submit: Callable[[], Any], *, read: Callable[[Any], Any] | None = None) -> Any:
    """The plain :data:`JobRunner`: one attempt, no retry."""
    result = submit().result()
    return read(result) if read else result


def successful(result: Any) -> Any:
    """An Aer ``Result`` that succeeded, or ``JobError`` with Aer's status (a retried, transient failure)."""
    if not result.success:
        from qiskit.providers import JobError

        raise JobError(f"Aer job failed: {result.status}")
    return result


@dataclass(frozen=True)
class Pub:
    """One circuit with its rows of parameter values.

    Attributes:
        circuit: an ISA circuit (already transpiled), parameters ``θ[k]`` (possibly a subset).
        values: shape ``(rows, len(circuit.parameters))``, columns in ``circuit.parameters`` order.
        observables: for estimator PUBs, the observables (layout applied); empty otherwise.
        shots: for sampler and runtime-estimator PUBs.
        active_qubits: the qubits the circuit touches (a noisy simulation needs the noise of these only).
        streams: ``(rows, generator)`` per stacked tape, in order, where the bridge draws the shots itself and
            each tape has its own generator; empty: one generator for the job.
    """

    circuit: QuantumCircuit
    values: np.ndarray
    observables: tuple[SparsePauliOp, ...] = ()
    shots: int | None = None
    active_qubits: frozenset[int] = frozenset()
    streams: tuple[tuple[int, np.random.Generator], ...] = ()

    @property
    def rows(self) -> int:
        return self.values.shape[0]


PHASE_PLACEHOLDER = "_unused_phase"
PROBABILITIES: tuple[SparsePauliOp, ...] = ()  # prepare_exact(circuit, PROBABILITIES): save the probabilities


def phase_for_aer(circuit: QuantumCircuit, *, keep: bool) -> QuantumCircuit:
    """``circuit`` without a parameterized global phase, which Aer's runtime binding cannot bind once a run
    has several rows ("instruction param position out of range", qiskit-aer 0.17; pinned in the tests).

    ``keep=False`` (probabilities, counts, expectation values: none depends on the phase) drops it;
    ``keep=True`` (state vectors) moves it into gates, exactly: ``X·P(φ)·X·P(φ) = e^{iφ}·I`` on qubit 0.
    A circuit whose global phase is a number is returned as it is.
    """
    phase = circuit.global_phase
    if not getattr(phase, "parameters", None):
        return circuit
    moved = circuit.copy()
    moved.global_phase = 0.0
    if keep:
        moved.p(phase, 0)
        moved.x(0)
        moved.p(phase, 0)
        moved.x(0)
    return moved


# Observables of I and Z only are read from the saved probabilities up to this many qubits (one saved array per row
# instead of one expectation value per Pauli term: at 4 qubits Aer builds the results of 4 saves in 52 µs a row,
# of one probability array in 4 µs, benchmarks/aer_rows.py); beyond, the 2**n probabilities outweigh the saves.
DIAGONAL_FROM_PROBABILITIES_UP_TO = 10


def prepare_exact(circuit: QuantumCircuit, observables: Sequence[SparsePauliOp] | None = None) -> QuantumCircuit:
    """A copy of ``circuit`` ready for :func:`exact_expectations` (``observables`` given) or
    :func:`exact_statevectors` (``None``): Aer save instructions for every Pauli term of the observables (for
    observables of I and Z only, up to :data:`DIAGONAL_FROM_PROBABILITIES_UP_TO` qubits, the probabilities they
    are computed from), or for the state vector. Done once per compiled structure, not per job.

    Every circuit of an Aer job with ``parameter_binds`` needs a binding, so a parameter-free circuit gets
    a global-phase parameter (bound to 0: one experiment).
    """
    prepared = with_parameter(circuit)
    prepared = prepared.copy() if prepared is circuit else prepared
    if observables is None:
        prepared.save_statevector()
        return prepared
    if observables == PROBABILITIES:
        prepared.save_probabilities()
        return prepared
    labels = sorted({label for obs in observables for label in obs.paulis.to_labels()})
    if prepared.num_qubits <= DIAGONAL_FROM_PROBABILITIES_UP_TO and all(set(label) <= {"I", "Z"} for label in labels):
        prepared.save_probabilities()  # one saved array; every diagonal term is a signed sum of it (NumPy)
        return prepared
    for label in labels:
        prepared.save_expectation_value(Pauli(label), qubits=range(prepared.num_qubits), label=label)
    return prepared


def diagonal_signs(labels: Sequence[str], num_qubits: int) -> np.ndarray:
    """``(2**n, len(labels))``: entry ``[b, l]`` is ``⟨b|P_l|b⟩ = ±1`` for the diagonal Pauli label ``P_l`` (Qiskit's
    order: the label's last character acts on qubit 0) and basis state ``b`` (qubit 0 least significant)."""
    basis = np.arange(2**num_qubits)[:, None]
    masks = np.array([sum(1 << q for q, c in enumerate(reversed(label)) if c == "Z") for label in labels])
    parity = np.zeros((2**num_qubits, len(labels)), dtype=np.int64)
    bits = basis & masks[None, :]
    for q in range(num_qubits):
        parity ^= (bits >> q) & 1
    return 1.0 - 2.0 * parity


# Aer's handling of a run's results grows faster than linearly in its experiments (measured: 56 µs an experiment
# at 912, 113 µs at 30,000, 500 µs at 57,000); an exact job's rows go to Aer in runs of at most this many.
MAX_EXPERIMENTS_PER_RUN = 4096


def _experiments(
    simulator: Any,
    pubs: Sequence[Pub],
    run_job: JobRunner,
    *,
    stack_rows: bool = False,
    stacking_rows: Sequence[int | None] | None = None,
    **options: Any,
) -> list[list[Any]]:
    """Run prepared PUBs on Aer, parameters bound in the simulator (``runtime_parameter_bind_enable``, a run
    option: the backend given is the one that runs, with its own options otherwise). All rows in one run, or in
    runs of at most :data:`MAX_EXPERIMENTS_PER_RUN` experiments.

    Per PUB: with ``stack_rows`` (exact runs), each row's saved data as ``{label: value}``, several rows to an
    experiment (:mod:`bridge.qiskit.stacking`); else the ``data`` of each experiment, one per row. Either way a
    parameter-free circuit runs once, its one result standing for every row. ``stacking_rows`` gives a PUB's rows
    per stacked experiment (``None``: :func:`~bridge.qiskit.stacking.rows_per_experiment` of its rows), so that a
    part of a PUB's rows run elsewhere is stacked as the whole PUB would be.
    """
    # (PUB index, circuit, parameter binds, experiments, its stacking or None)
    pieces: list[tuple[int, Any, dict[Any, Any], int, stacking.Stacked | None]] = []
    for index, pub in enumerate(pubs):
        parameters = list(pub.circuit.parameters)
        if pub.values.shape[1] == 0:  # parameter-free: the phase placeholder, one experiment for every row
            pieces.append((index, pub.circuit, {parameters[0]: [0.0]}, 1, None))
            continue
        if stack_rows:
            given = stacking_rows[index] if stacking_rows is not None else None
            k = given or stacking.rows_per_experiment(pub.circuit.num_qubits, pub.rows)
            for start in range(0, pub.rows, MAX_EXPERIMENTS_PER_RUN * k):
                chunk = pub.values[start : start + MAX_EXPERIMENTS_PER_RUN * k]
                for first, size, n in stacking.split(len(chunk), k):
                    plan = stacking.stacked(pub.circuit, size)
                    binds = stacking.bindings(plan, chunk[first : first + size * n])
                    pieces.append((index, plan.circuit, binds, n, plan))
            continue
        for start in range(0, pub.rows, MAX_EXPERIMENTS_PER_RUN):
            chunk = np.ascontiguousarray(pub.values[start : start + MAX_EXPERIMENTS_PER_RUN].T)
            pieces.append((index, pub.circuit, dict(zip(parameters, chunk, strict=True)), chunk.shape[1], None))
    out: list[list[Any]] = [[] for _ in pubs]
    run: list[tuple] = []
    for piece in [*pieces, None]:
        if piece is None or run and sum(p[3] for p in run) + piece[3] > MAX_EXPERIMENTS_PER_RUN:
            circuits, run_binds = [p[1] for p in run], [p[2] for p in run]
            result = run_job(
                lambda c=circuits, b=run_binds: simulator.run(
                    c, parameter_binds=b, runtime_parameter_bind_enable=True, **options
                ),
                read=successful,
            )
            start = 0
            for index, _, _, n, plan in run:
                data = [r.data for r in result.results[start : start + n]]
                if plan is not None:
                    out[index].extend(stacking.unstacked(plan, data))
                elif stack_rows:
                    out[index].extend(d.to_dict() for d in data)
                else:
                    out[index].extend(data)
                start += n
            run = []
        if piece is not None:
            run.append(piece)
    return out


def _all_rows(per_experiment: np.ndarray, rows: int) -> np.ndarray:
    """Per-experiment results ``(n, k)`` as ``(rows, k)``: the array itself when ``n == rows``, else the one
    experiment of a parameter-free circuit repeated (a writable array either way: torch refuses read-only ones)."""
    return per_experiment if len(per_experiment) == rows else np.repeat(per_experiment, rows, axis=0)


# What an exact run saved, per PUB: each saved label's values of every row stacked, ``{label: (n, ...)}``, ``n`` the
# PUB's rows (1 for a parameter-free circuit, whose one experiment stands for every row).
Saved = list[dict[str, np.ndarray]]


def saved_rows(
    simulator: Any,
    pubs: Sequence[Pub],
    run_job: JobRunner = run_once,
    *,
    stacking_rows: Sequence[int | None] | None = None,
    **options: Any,
) -> Saved:
    """Run prepared PUBs (:func:`prepare_exact`) on an ideal Aer simulator, stacked (see :func:`_experiments`),
    and return what each row saved as arrays (:data:`Saved`)."""
    data = _experiments(simulator, pubs, run_job, stack_rows=True, stacking_rows=stacking_rows, **options)
    return [{label: np.stack([np.asarray(d[label]) for d in rows]) for label in rows[0]} for rows in data]


def expectations_from_saved(pubs: Sequence[Pub], saved: Saved) -> list[np.ndarray]:
    """Expectation values ``(rows, n_observables)`` per PUB from the Pauli terms (or probabilities) it saved."""
    out = []
    for pub, data in zip(pubs, saved, strict=True):
        labels = sorted({label for obs in pub.observables for label in obs.paulis.to_labels()})
        column = {label: j for j, label in enumerate(labels)}
        weights = np.zeros((len(labels), len(pub.observables)))  # Pauli term → observable coefficients
        for m, obs in enumerate(pub.observables):
            for label, c in zip(obs.paulis.to_labels(), obs.coeffs.real, strict=True):
                weights[column[label], m] += c
        if "probabilities" in data:  # diagonal terms from the saved probabilities (prepare_exact)
            terms = data["probabilities"] @ diagonal_signs(labels, pub.circuit.num_qubits)
        else:
            terms = np.stack([data[label] for label in labels], axis=1)
        n = len(terms)
        out.append(_all_rows(terms.reshape(n, len(labels)) @ weights, pub.rows))
    return out


def in_wire_order(pubs: Sequence[Pub], saved: Saved, field: str) -> list[np.ndarray]:
    """Each row's saved ``field`` (an array over the ``2**n`` basis states, Qiskit's order: qubit 0 least
    significant) as ``(rows, 2**n)`` per PUB in PennyLane's order (wire 0 most significant)."""
    out = []
    for pub, data in zip(pubs, saved, strict=True):
        values, q = data[field], pub.circuit.num_qubits
        n = len(values)
        out.append(_all_rows(values.reshape((n, *[2] * q)).transpose(0, *range(q, 0, -1)).reshape(n, -1), pub.rows))
    return out


def exact_expectations(
    simulator: Any, pubs: Sequence[Pub], run_job: JobRunner = run_once, **options: Any
) -> list[np.ndarray]:
    """Exact expectation values, shape ``(rows, n_observables)`` per PUB, in one simulator job.

    The PUBs' circuits must come from :func:`prepare_exact` with their observables.
    """
    return expectations_from_saved(pubs, saved_rows(simulator, pubs, run_job, **options))


def exact_statevectors(
    simulator: Any, pubs: Sequence[Pub], run_job: JobRunner = run_once, **options: Any
) -> list[np.ndarray]:
    """State vectors in PennyLane's wire order (wire 0 most significant), ``(rows, 2**n)`` per PUB.

    The PUBs' circuits must come from :func:`prepare_exact` without observables.
    """
    return in_wire_order(pubs, saved_rows(simulator, pubs, run_job, **options), "statevector")


def exact_probabilities(
    simulator: Any, pubs: Sequence[Pub], run_job: JobRunner = run_once, **options: Any
) -> list[np.ndarray]:
    """Probabilities of every basis state in PennyLane's wire order (wire 0 most significant), ``(rows, 2**n)``
    per PUB. The PUBs' circuits must come from :func:`prepare_exact` with :data:`PROBABILITIES`."""
    return in_wire_order(pubs, saved_rows(simulator, pubs, run_job, **options), "probabilities")


def measured_counts(simulator: Any, pubs: Sequence[Pub], seed: int, run_job: JobRunner = run_once) -> list[np.ndarray]:
    """Counts ``(rows, 2**n)`` of measured circuits (from :func:`with_parameter`) on an Aer simulator, one run
    (Aer's own counts of each experiment: no per-shot bitstrings), basis index with wire 0 (clbit 0) most
    significant."""
    out = []
    for pub, data in zip(
        pubs, _experiments(simulator, pubs, run_job, shots=shots_of(pubs[0]), seed_simulator=seed), strict=True
    ):
        n = pub.circuit.num_clbits
        reverse = np.array([int(format(i, f"0{n}b")[::-1], 2) for i in range(2**n)])  # clbit 0 → most significant
        counts = np.zeros((len(data), 2**n), dtype=np.int64)
        for row, d in enumerate(data):
            for key, value in d.counts.items():
                counts[row, reverse[int(key, 16)]] = value
        out.append(_all_rows(counts, pub.rows))
    return out


def with_parameter(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit``, or a copy with the global-phase placeholder if it has no parameter (every circuit of an Aer
    run with ``parameter_binds`` needs one; bound to 0, one experiment)."""
    if circuit.parameters:
        return circuit
    prepared = circuit.copy()
    prepared.global_phase += Parameter(PHASE_PLACEHOLDER)
    return prepared


def sample_counts(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Counts of ``shots`` draws from each row's probabilities ``(rows, 2**n)``: one multinomial per row,
    vectorized, rows drawn in order (drawing rows ``[a; b]`` at once equals ``a`` then ``b`` from the same
    generator). The same distribution as counting ``shots`` sampled bitstrings of each row's state."""
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
    return rng.multinomial(shots, p / p.sum(axis=1, keepdims=True))


def sample_pub_counts(probabilities: np.ndarray, pub: Pub, job_stream: np.random.Generator | None) -> np.ndarray:
    """Counts ``(rows, 2**n)`` of a PUB's rows: each stacked tape's rows from its own generator (``pub.streams``),
    or all rows from the job's (``job_stream``, given whenever a PUB of the job has no streams)."""
    if not pub.streams:
        assert job_stream is not None, "a PUB without per-tape generators needs the job's"
        return sample_counts(probabilities, shots_of(pub), job_stream)
    bounds = np.cumsum([0, *(n for n, _ in pub.streams)])
    return np.concatenate(
        [
            sample_counts(probabilities[a:b], shots_of(pub), stream)
            for (a, b), (_, stream) in zip(zip(bounds[:-1], bounds[1:], strict=True), pub.streams, strict=True)
        ]
    )


# Memory one PUB row costs while its job runs, besides its outputs: Aer's per-experiment result and the bound
# parameter row (measured: benchmarks/run.py, workload LARGE, peak memory per row at batch 1,000 and 4,000)
ROW_BYTES = 2048
MEMORY_SHARE = 0.8  # of the memory available when the job starts


def job_bytes(kind: str, pubs: Sequence[Pub]) -> int:
    """An estimate of the memory a job of ``pubs`` needs: per row :data:`ROW_BYTES` plus its outputs (expectation
    values, a state vector of ``2**n`` complex amplitudes, ``2**n`` probabilities and counts, or ``shots ×
    bits`` samples)."""
    total = 0
    for pub in pubs:
        n = pub.circuit.num_qubits
        per_row = {
            "estimator": 8 * max(1, len(pub.observables)),
            "state": 2 * 16 * 2**n,
            "counts": 2 * 8 * 2 ** (pub.circuit.num_clbits or n),
            "samples": 8 * (pub.shots or 0) * max(1, pub.circuit.num_clbits),
        }[kind]
        total += pub.rows * (ROW_BYTES + per_row)
    return total


def check_job_memory(kind: str, pubs: Sequence[Pub], available: int | None = None) -> None:
    """Refuse, before it is sent, a job whose estimated memory (:func:`job_bytes`) exceeds
    :data:`MEMORY_SHARE` of the memory available.

    Raises:
        InputError: with the estimate, the memory available and what to do.
    """
    import psutil

    free = psutil.virtual_memory().available if available is None else available
    needed = job_bytes(kind, pubs)
    if needed > MEMORY_SHARE * free:
        rows = sum(pub.rows for pub in pubs)
        raise InputError(
            f"one job of {rows:,} circuits needs about {needed / 2**30:,.2f} GiB of memory, but only "
            f"{free / 2**30:,.2f} GiB is available; give a smaller batch (a training step sends the forward rows "
            "and two shifted rows per trainable gate angle for every sample)"
        )


def placeholder(kind: str, pub: Pub) -> np.ndarray:
    """What a dry run returns instead of running ``pub``: zeros of the shape a real run would give
    (expectation values ``(rows, n_obs)``, the state |0…0⟩ ``(rows, 2**n)``, or all-zero samples)."""
    n = pub.circuit.num_qubits
    if kind == "estimator":
        return np.zeros((pub.rows, len(pub.observables)))
    if kind == "state":
        states = np.zeros((pub.rows, 2**n), dtype=complex)
        states[:, 0] = 1.0
        return states
    if kind == "counts":  # every shot in |0…0⟩ (the measured wires: clbits of a sampled circuit, else qubits)
        counts = np.zeros((pub.rows, 2 ** (pub.circuit.num_clbits or pub.circuit.num_qubits)), dtype=np.int64)
        counts[:, 0] = pub.shots or 0
        return counts
    return np.zeros((pub.rows, pub.shots or 0, pub.circuit.num_clbits), dtype=np.int64)


def bits_to_samples(array: np.ndarray, num_bits: int) -> np.ndarray:
    """A ``BitArray``'s packed bytes ``(rows, shots, n_bytes)`` → samples ``(rows, shots, num_bits)``,
    column ``i`` the outcome of classical bit ``i`` (= wire ``i``)."""
    bits = np.unpackbits(array, axis=-1, bitorder="big")
    return bits[..., ::-1][..., :num_bits].astype(np.int64)  # PennyLane's samples are int64


class Sampler:
    """A ``SamplerV2`` primitive, made per job by ``factory(seed)`` with seeds drawn from ``rng``.

    A fresh seed per job keeps a seeded run reproducible while consecutive jobs (a forward pass, then
    its shifted circuits) get independent shot noise.
    """

    def __init__(self, factory: Any, rng: np.random.Generator, run_job: JobRunner = run_once) -> None:
        self.factory = factory
        self.rng = rng
        self.run_job = run_job

    def run(self, pubs: Sequence[Pub], *, as_counts: bool = False) -> list[np.ndarray]:
        """Samples ``(rows, shots, n_qubits)`` per PUB, or their counts ``(rows, 2**n)`` in PennyLane's basis
        order (``as_counts``), from one primitive job."""
        primitive = self.factory(int(self.rng.integers(2**31)))
        shots = [shots_of(p) for p in pubs]
        # a parameter-free circuit has one binding: ask for rows × shots and split them into rows
        payload = [
            (p.circuit, p.values, n) if p.circuit.parameters else (p.circuit, None, n * p.rows)
            for p, n in zip(pubs, shots, strict=True)
        ]
        out = []
        for pub, res in zip(pubs, self.run_job(lambda: primitive.run(payload)), strict=True):
            bits = res.data["c"]
            packed = bits.array.reshape(pub.rows, pub.shots, bits.array.shape[-1])
            samples = bits_to_samples(packed, bits.num_bits)
            out.append(samples_to_counts(samples) if as_counts else samples)
        return out


def samples_to_counts(samples: np.ndarray) -> np.ndarray:
    """Samples ``(rows, shots, n)`` (column i: wire i) → counts ``(rows, 2**n)``, basis index with wire 0 most
    significant; one ``bincount`` for all rows."""
    rows, _, n = samples.shape
    codes = samples @ (1 << np.arange(n - 1, -1, -1))  # (rows, shots)
    offsets = (np.arange(rows) * 2**n)[:, None]
    return np.bincount((codes + offsets).ravel(), minlength=rows * 2**n).reshape(rows, 2**n)


class RuntimeEstimator:
    """qiskit-ibm-runtime's ``EstimatorV2`` (IBM backends, or fake ones in local mode), made per job by
    ``factory(seed)`` with seeds drawn from ``rng`` (the seed of a local simulation; ignored on hardware)."""

    def __init__(self, factory: Any, rng: np.random.Generator, run_job: JobRunner = run_once) -> None:
        self.factory = factory
        self.rng = rng
        self.run_job = run_job

    def run(self, pubs: Sequence[Pub]) -> list[np.ndarray]:
        """Expectation values ``(rows, n_observables)`` per PUB, from one primitive job."""
        payload = [
            (p.circuit, [list(p.observables)], p.values[:, None, :] if p.circuit.parameters else None) for p in pubs
        ]
        precision = 1 / np.sqrt(shots_of(pubs[0]))
        primitive = self.factory(int(self.rng.integers(2**31)))
        results = self.run_job(lambda: primitive.run(payload, precision=precision))
        return [
            _all_rows(np.asarray(res.data.evs).reshape(-1, len(pub.observables)), pub.rows)
            for pub, res in zip(pubs, results, strict=True)
        ]


def shots_of(pub: Pub) -> int:
    """A sampled PUB's shots (the device gives every sampled PUB its tape's shots)."""
    if pub.shots is None:
        raise ValueError("a sampler or runtime-estimator PUB needs shots")
    return pub.shots
