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
    """

    circuit: QuantumCircuit
    values: np.ndarray
    observables: tuple[SparsePauliOp, ...] = ()
    shots: int | None = None

    @property
    def rows(self) -> int:
        return self.values.shape[0]


PHASE_PLACEHOLDER = "_unused_phase"


def prepare_exact(circuit: QuantumCircuit, observables: Sequence[SparsePauliOp] | None = None) -> QuantumCircuit:
    """A copy of ``circuit`` ready for :func:`exact_expectations` (``observables`` given) or
    :func:`exact_statevectors` (``None``): Aer save instructions for every Pauli term of the observables,
    or for the state vector. Done once per compiled structure, not per job.

    Every circuit of an Aer job with ``parameter_binds`` needs a binding, so a parameter-free circuit gets
    a global-phase parameter (bound to 0: one experiment).
    """
    prepared = circuit.copy()
    if not prepared.parameters:
        prepared.global_phase += Parameter(PHASE_PLACEHOLDER)
    if observables is None:
        prepared.save_statevector()
        return prepared
    for label in sorted({label for obs in observables for label in obs.paulis.to_labels()}):
        prepared.save_expectation_value(Pauli(label), qubits=range(prepared.num_qubits), label=label)
    return prepared


def _binds(pub: Pub) -> tuple[dict, int]:
    """Aer ``parameter_binds`` of a prepared PUB and its number of experiments."""
    parameters = list(pub.circuit.parameters)
    if pub.values.shape[1] == 0:  # parameter-free: the phase placeholder, one experiment for every row
        return {parameters[0]: [0.0]}, 1
    return {p: pub.values[:, i] for i, p in enumerate(parameters)}, pub.rows


def _run_prepared(simulator: Any, pubs: Sequence[Pub], run_job: JobRunner) -> tuple[Any, tuple[int, ...]]:
    """Run prepared PUBs as one Aer job; returns its successful ``Result`` and each PUB's experiment count."""
    binds, counts = zip(*(_binds(pub) for pub in pubs), strict=True)
    circuits = [pub.circuit for pub in pubs]
    return run_job(lambda: simulator.run(circuits, parameter_binds=list(binds)), read=successful), counts


def exact_expectations(simulator: Any, pubs: Sequence[Pub], run_job: JobRunner = run_once) -> list[np.ndarray]:
    """Exact expectation values, shape ``(rows, n_observables)`` per PUB, in one simulator job.

    The PUBs' circuits must come from :func:`prepare_exact` with their observables.
    """
    result, counts = _run_prepared(simulator, pubs, run_job)
    out, start = [], 0
    for pub, n in zip(pubs, counts, strict=True):
        data = [result.results[start + i].data.to_dict() for i in range(n)]
        start += n
        evs = np.empty((n, len(pub.observables)))
        for m, obs in enumerate(pub.observables):
            labels, coeffs = obs.paulis.to_labels(), obs.coeffs.real
            evs[:, m] = [sum(c * row[label] for label, c in zip(labels, coeffs, strict=True)) for row in data]
        out.append(np.broadcast_to(evs, (pub.rows, len(pub.observables))))
    return out


def exact_statevectors(simulator: Any, pubs: Sequence[Pub], run_job: JobRunner = run_once) -> list[np.ndarray]:
    """State vectors in PennyLane's wire order (wire 0 most significant), ``(rows, 2**n)`` per PUB.

    The PUBs' circuits must come from :func:`prepare_exact` without observables.
    """
    result, counts = _run_prepared(simulator, pubs, run_job)
    out, start = [], 0
    for pub, n in zip(pubs, counts, strict=True):
        n_qubits = pub.circuit.num_qubits
        states = np.stack([np.asarray(result.results[start + i].data.statevector) for i in range(n)])
        start += n
        states = states.reshape((n, *[2] * n_qubits)).transpose(0, *range(n_qubits, 0, -1)).reshape(n, -1)
        out.append(np.broadcast_to(states, (pub.rows, states.shape[1])))
    return out


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

    def run(self, pubs: Sequence[Pub]) -> list[np.ndarray]:
        """Samples ``(rows, shots, n_qubits)`` per PUB, from one primitive job."""
        primitive = self.factory(int(self.rng.integers(2**31)))
        shots = [_shots(p) for p in pubs]
        # a parameter-free circuit has one binding: ask for rows × shots and split them into rows
        payload = [
            (p.circuit, p.values, n) if p.circuit.parameters else (p.circuit, None, n * p.rows)
            for p, n in zip(pubs, shots, strict=True)
        ]
        out = []
        for pub, res in zip(pubs, self.run_job(lambda: primitive.run(payload)), strict=True):
            bits = res.data["c"]
            packed = bits.array.reshape(pub.rows, pub.shots, bits.array.shape[-1])
            out.append(bits_to_samples(packed, bits.num_bits))
        return out


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
        precision = 1 / np.sqrt(_shots(pubs[0]))
        primitive = self.factory(int(self.rng.integers(2**31)))
        results = self.run_job(lambda: primitive.run(payload, precision=precision))
        return [
            np.broadcast_to(
                np.asarray(res.data.evs).reshape(-1, len(pub.observables)), (pub.rows, len(pub.observables))
            )
            for pub, res in zip(pubs, results, strict=True)
        ]


def _shots(pub: Pub) -> int:
    """A sampled PUB's shots (the device gives every sampled PUB its tape's shots)."""
    if pub.shots is None:
        raise ValueError("a sampler or runtime-estimator PUB needs shots")
    return pub.shots
