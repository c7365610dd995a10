"""A batch of tapes → as few primitive jobs as possible: tapes of equal structure share one PUB (their angle rows
stacked), and all PUBs of a kind go in one job.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP
from pennylane.wires import Wires

from bridge.qiskit.compile import Compiled, Compiler
from bridge.qiskit.primitives import Pub
from bridge.qiskit.runner import Runner
from bridge.qiskit.structure import on_device_indices, structure_key

KINDS = ("estimator", "state", "counts", "samples")
MAX_COUNTS_WIRES = 16  # counts per row cost 2**n numbers: beyond this, sampled tapes keep their bitstrings


@dataclass(frozen=True)
class Evaluated:
    """One tape's share of a batch: its kind, compiled structure and primitive output for its rows
    (expectation values ``(n, n_obs)``, states ``(n, 2**q)`` or samples ``(n, shots, q)``); ``compiled`` is
    ``None`` for a tape with no rows (nothing was sent for it)."""

    kind: str
    compiled: Compiled | None
    output: np.ndarray


NOTHING_SENT = Evaluated("", None, np.zeros((0, 0)))  # for a tape whose rows were not run


@dataclass(frozen=True)
class Counts:
    """What a batch sent: primitive jobs, circuits (PUB rows) and shots summed over circuits."""

    jobs: int = 0
    pub_rows: int = 0
    shots: int = 0


def tape_kind(tape: qml.tape.QuantumScript, *, ideal: bool, sampler_only: bool, where: str, n_wires: int) -> str:
    """How a tape runs: ``"estimator"`` (Pauli expectation values and variances: exact, or the runtime's
    ``EstimatorV2`` with shots), ``"state"`` (exact, any other measurement), ``"counts"`` (shots: expectation
    values, variances and probabilities read from counts per row) or ``"samples"`` (shots: samples, counts, shot
    vectors, or more than :data:`MAX_COUNTS_WIRES` wires).

    Args:
        tape: a preprocessed tape.
        ideal: the backend is the ideal simulator (the only one with an exact mode).
        sampler_only: the backend's shots never go through the runtime's ``EstimatorV2`` (Aer backends).
        where: the profile or backend, for the message.
        n_wires: the device's wires.

    Raises:
        DeviceError: an exact tape on a backend that only samples.
    """
    pauli_only = all(
        isinstance(m, ExpectationMP | VarianceMP) and m.obs is not None and m.obs.pauli_rep is not None
        for m in tape.measurements
    )
    if not tape.shots:
        if not ideal:
            raise DeviceError(
                f"bridge.qiskit on {where} has no exact mode: a noisy simulator or hardware only "
                "samples; set shots (qml.set_shots, or the profile's 'shots')"
            )
        return "estimator" if pauli_only else "state"
    countable = all(isinstance(m, ExpectationMP | VarianceMP | ProbabilityMP) for m in tape.measurements)
    if tape.shots.has_partitioned_shots or not countable or n_wires > MAX_COUNTS_WIRES:
        return "samples"
    return "counts" if sampler_only or not pauli_only else "estimator"


def tapes_and_kinds(
    circuits: Sequence[qml.tape.QuantumScript], wires: Wires, settings: Any
) -> list[tuple[qml.tape.QuantumScript, str]]:
    """Each tape on the device's indices ``0..n-1``, with how it runs (:func:`tape_kind`) on ``settings``' backend."""
    tapes = [on_device_indices(t, wires) for t in circuits]
    return [
        (
            t,
            tape_kind(
                t, ideal=settings.ideal, sampler_only=settings.sampler_only, where=settings.where, n_wires=len(wires)
            ),
        )
        for t in tapes
    ]


def evaluate(
    tapes: Sequence[qml.tape.QuantumScript],
    rows: Sequence[np.ndarray],
    kinds: Sequence[str],
    compiler: Compiler,
    runner: Runner,
    streams: Sequence[np.random.Generator | None] | None = None,
) -> tuple[list[Evaluated], Counts]:
    """Run ``rows[i]`` (angle rows ``(n_i, n_params)``) through tape ``i``'s structure, one job per kind.

    ``streams[i]``: the generator tape ``i``'s shots are drawn from where the bridge draws them (see
    :meth:`~bridge.qiskit.runner.Runner.stream`). A tape with no rows sends nothing (an empty PUB crashes Aer),
    and a kind with no PUB sends no job.
    """
    streams = streams or [None] * len(tapes)
    groups: OrderedDict[Hashable, list[int]] = OrderedDict()
    for i, (tape, kind) in enumerate(zip(tapes, kinds, strict=True)):
        groups.setdefault(structure_key(tape, kind), []).append(i)
    plans: dict[str, list[tuple[Compiled, list[int], Pub]]] = {kind: [] for kind in KINDS}
    for key, members in groups.items():
        if not sum(rows[i].shape[0] for i in members):
            continue
        compiled = compiler.get(key, tapes[members[0]])
        # copies only where they change something: one tape's rows are used as they are, every column in order
        stacked = rows[members[0]] if len(members) == 1 else np.concatenate([rows[i] for i in members], axis=0)
        identity = np.array_equal(compiled.columns, np.arange(stacked.shape[1]))
        pub = Pub(
            compiled.circuit,
            stacked if identity else stacked[:, compiled.columns],
            compiled.observables,
            tapes[members[0]].shots.total_shots,
            compiled.active_qubits,
            _streams([(rows[i].shape[0], streams[i]) for i in members]),
        )
        plans[compiled.kind].append((compiled, members, pub))
    results = [Evaluated(kind, None, np.zeros((0, 0))) for kind in kinds]
    jobs = pub_rows = shots = 0
    for kind, plan in plans.items():
        if not plan:
            continue
        outputs = runner.run(kind, [pub for _, _, pub in plan])
        jobs += 1
        for (compiled, members, pub), output in zip(plan, outputs, strict=True):
            pub_rows += pub.rows
            shots += pub.rows * (pub.shots or 0)
            start = 0
            for i in members:
                n = rows[i].shape[0]
                results[i] = Evaluated(kind, compiled, output[start : start + n])
                start += n
    return results, Counts(jobs, pub_rows, shots)


def _streams(segments: list[tuple[int, np.random.Generator | None]]) -> tuple[tuple[int, np.random.Generator], ...]:
    """A PUB's ``(rows, generator)`` per stacked tape where every tape has its own generator, else ``()``."""
    return tuple((n, g) for n, g in segments if g is not None) if all(g is not None for _, g in segments) else ()
