"""A batch of tapes → as few primitive jobs as possible: tapes of equal structure share one PUB (their angle rows
stacked), and all PUBs of a kind go in one job.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pennylane as qml
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP, VarianceMP

from bridge.qiskit.compile import Compiled, Compiler
from bridge.qiskit.primitives import Pub
from bridge.qiskit.runner import Runner
from bridge.qiskit.structure import structure_key

KINDS = ("estimator", "state", "sampler")


@dataclass(frozen=True)
class Evaluated:
    """One tape's share of a batch: its kind, compiled structure and primitive output for its rows
    (expectation values ``(n, n_obs)``, states ``(n, 2**q)`` or samples ``(n, shots, q)``); ``compiled`` is
    ``None`` for a tape with no rows (nothing was sent for it)."""

    kind: str
    compiled: Compiled | None
    output: np.ndarray


@dataclass(frozen=True)
class Counts:
    """What a batch sent: primitive jobs, circuits (PUB rows) and shots summed over circuits."""

    jobs: int = 0
    pub_rows: int = 0
    shots: int = 0


def tape_kind(tape: qml.tape.QuantumScript, *, ideal: bool, sampler_only: bool, where: str) -> str:
    """How a tape runs: ``"estimator"`` (Pauli expectation values and variances), ``"state"`` (exact, any other
    measurement) or ``"sampler"`` (shots on Aer, shot vectors, or measurements the estimator cannot give).

    Args:
        tape: a preprocessed tape.
        ideal: the backend is the ideal simulator (the only one with an exact mode).
        sampler_only: the backend's shots always go through ``SamplerV2`` (Aer backends).
        where: the profile or backend, for the message.

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
    if tape.shots.has_partitioned_shots or sampler_only or not pauli_only:
        return "sampler"
    return "estimator"


def evaluate(
    tapes: Sequence[qml.tape.QuantumScript],
    rows: Sequence[np.ndarray],
    kinds: Sequence[str],
    compiler: Compiler,
    runner: Runner,
) -> tuple[list[Evaluated], Counts]:
    """Run ``rows[i]`` (angle rows ``(n_i, n_params)``) through tape ``i``'s structure, one job per kind.

    A tape with no rows sends nothing (an empty PUB crashes Aer), and a kind with no PUB sends no job.
    """
    groups: OrderedDict[Hashable, list[int]] = OrderedDict()
    for i, (tape, kind) in enumerate(zip(tapes, kinds, strict=True)):
        groups.setdefault(structure_key(tape, kind), []).append(i)
    plans: dict[str, list[tuple[Compiled, list[int], Pub]]] = {kind: [] for kind in KINDS}
    for key, members in groups.items():
        if not sum(rows[i].shape[0] for i in members):
            continue
        compiled = compiler.get(key, tapes[members[0]])
        stacked = np.concatenate([rows[i] for i in members], axis=0)
        pub = Pub(
            compiled.circuit, stacked[:, compiled.columns], compiled.observables, tapes[members[0]].shots.total_shots
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
