"""The library's models and seeded random circuits, each built twice — a PennyLane circuit and, independently, its
Qiskit construction — and verified by the one comparison, :func:`bridge.verification.run.verify_model`, on every
profile (``qml-bridge verify``).

Tolerances and engines: :mod:`bridge.verification.run`; the random circuits (2–6 qubits, reused weights, angle
expressions): :mod:`bridge.reference.random_circuits`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pennylane as qml

from bridge import circuits
from bridge.circuits import CircuitSpec
from bridge.profiles import Profile, load_profile
from bridge.reference import models as qiskit_models
from bridge.reference.random_circuits import RandomCircuit, angle_value, random_circuit, to_qiskit
from bridge.verification.model import Model
from bridge.verification.rows import Engine, Row, write_rows
from bridge.verification.run import verify_model

DEFAULT_PROFILES = ("default", "fast", "lightning", "aer", "aer-shots")


@dataclass(frozen=True)
class Case:
    """A library model on both sides: the PennyLane circuit and its independent Qiskit construction (the
    reference runs the latter; its weight vector is laid out as the PennyLane weights sorted by name)."""

    name: str
    spec: CircuitSpec
    model: qiskit_models.QiskitModel

    def as_model(self) -> Model:
        """The model as :func:`~bridge.verification.run.verify_model` sees it, with its Qiskit construction."""
        shapes = {n: self.spec.weight_shapes[n] for n in sorted(self.spec.weight_shapes)}
        return Model(self.name, self.spec.qfunc, shapes, self.spec.n_wires, self.spec.n_inputs, qiskit=self.model)


def library_cases() -> list[Case]:
    """The circuit library's models, each with its Qiskit construction."""
    return [
        Case("textbook_hry", circuits.textbook_hry(), qiskit_models.textbook_hry()),
        Case("angle_entangling", circuits.angle_entangling(4, 2), qiskit_models.angle_entangling(4, 2)),
        Case("zz_real_amplitudes", circuits.zz_real_amplitudes(2, 2), qiskit_models.zz_real_amplitudes(2, 2)),
        Case(
            "qaoa_maxcut",
            circuits.qaoa_maxcut([(0, 1), (1, 2), (2, 3), (3, 0)], depth=2),
            qiskit_models.qaoa_maxcut([(0, 1), (1, 2), (2, 3), (3, 0)], depth=2),
        ),
    ]


_PENNYLANE_GATES = {
    "rx": qml.RX,
    "ry": qml.RY,
    "rz": qml.RZ,
    "p": qml.PhaseShift,
    "rzz": qml.IsingZZ,
    "crx": qml.CRX,
    "cx": qml.CNOT,
    "h": qml.Hadamard,
}


def pennylane_twin(spec: RandomCircuit) -> CircuitSpec:
    """The PennyLane circuit of a random gate list (the same list builds the Qiskit side)."""

    def qfunc(inputs, weights):
        x = [inputs[..., i] for i in range(spec.n_inputs)]
        for gate in spec.gates:
            args = [angle_value(gate.angle, x, weights)] if gate.angle else []
            _PENNYLANE_GATES[gate.name](*args, wires=list(gate.wires))
        return [qml.expval(qml.PauliZ(q)) for q in spec.readout]

    return CircuitSpec(
        f"random_{spec.seed}",
        qfunc,
        n_wires=spec.n_qubits,
        n_inputs=spec.n_inputs,
        n_outputs=len(spec.readout),
        weight_shapes={"weights": (spec.n_weights,)},
    )


def random_cases(count: int, seed: int = 0) -> list[Case]:
    """``count`` seeded random circuits (2–6 qubits, reused weights, angle expressions)."""
    out = []
    for i in range(count):
        spec = random_circuit(seed * 100_003 + i)
        out.append(Case(f"random_{spec.seed}", pennylane_twin(spec), to_qiskit(spec)))
    return out


def verify_case(
    case: Case,
    profiles: Sequence[str | Profile],
    *,
    batch: int = 3,
    seed: int = 0,
    candidates: dict[str, Engine] | None = None,
) -> list[Row]:
    """:func:`~bridge.verification.run.verify_model` on one library model (the reference runs its own Qiskit
    construction); ``candidates`` are extra engines by name (the tests inject broken gradients this way)."""
    return verify_model(case.as_model(), profiles, batch=batch, seed=seed, candidates=candidates)


def run_verification(
    profiles: Sequence[str | Profile] = DEFAULT_PROFILES,
    *,
    random_count: int = 50,
    seed: int = 0,
    json_path: Path | None = None,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Verify the library models and ``random_count`` random circuits on every profile; optional JSON."""
    loaded = [load_profile(p) for p in profiles]
    rows = []
    for case in [*library_cases(), *random_cases(random_count, seed)]:
        for row in verify_case(case, loaded, seed=seed):
            rows.append(row)
            if progress:
                progress(row)
    if json_path:
        write_rows(rows, json_path)
    return rows
