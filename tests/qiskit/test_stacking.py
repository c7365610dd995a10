"""Several rows in one Aer experiment (``bridge.qiskit.stacking``): each row's saved data equal those of the row
run alone (Qiskit's ``Statevector`` of the bound circuit, 1e-12), whatever the number of rows; fewer experiments
reach Aer; what cannot be stacked is refused."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer import AerSimulator

from bridge.qiskit import primitives, stacking
from bridge.qiskit.primitives import Pub


def _circuit(n: int, phase: float) -> QuantumCircuit:
    """An entangling circuit on ``n`` qubits with 3n parameters, expressions among them, and a global phase."""
    theta = ParameterVector("θ", 3 * n)
    qc = QuantumCircuit(n, global_phase=phase)
    for q in range(n):
        qc.rx(theta[q], q)
        qc.ry(2 * theta[n + q] + 0.3, q)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    for q in range(n):
        qc.rz(theta[2 * n + q], q)
        qc.h(q) if q % 2 else qc.sx(q)
    return qc


def _exact(circuit: QuantumCircuit, row: np.ndarray) -> np.ndarray:
    """The row's state vector in PennyLane's wire order (wire 0 most significant), by Qiskit's ``Statevector``."""
    state = Statevector(circuit.assign_parameters(dict(zip(circuit.parameters, row, strict=True)))).data
    n = circuit.num_qubits
    return state.reshape([2] * n).transpose(range(n - 1, -1, -1)).reshape(-1)


@pytest.fixture
def experiments(monkeypatch) -> list[int]:
    """The number of experiments of each ``AerSimulator.run``, counted where they reach Aer."""
    seen: list[int] = []
    original = AerSimulator.run

    def spy(self, circuits, **kwargs):
        seen.append(sum(len(next(iter(b.values()))) for b in kwargs["parameter_binds"]))
        return original(self, circuits, **kwargs)

    monkeypatch.setattr(AerSimulator, "run", spy)
    return seen


@pytest.mark.parametrize("n", [1, 3, 9])
@pytest.mark.parametrize("rows", [1, 90, 161, 2600])
def test_each_row_of_a_stacked_run_is_the_row_run_alone(n, rows, experiments):
    k = stacking.rows_per_experiment(n, rows)
    circuit = _circuit(n, phase=0.7)
    values = np.random.default_rng(n + rows).uniform(-np.pi, np.pi, (rows, circuit.num_parameters))
    truth = np.stack([_exact(circuit, row) for row in values])
    simulator = AerSimulator(method="statevector")

    pub = Pub(primitives.prepare_exact(circuit), values)
    (states,) = primitives.exact_statevectors(simulator, [pub])
    assert np.abs(states - truth).max() <= 1e-12  # the global phase included

    pub = Pub(primitives.prepare_exact(circuit, primitives.PROBABILITIES), values)
    (probabilities,) = primitives.exact_probabilities(simulator, [pub])
    assert np.abs(probabilities - np.abs(truth) ** 2).max() <= 1e-12

    z = [SparsePauliOp("I" * (n - 1 - q) + "Z" + "I" * q) for q in range(n)]
    mixed = [SparsePauliOp.from_list([("X" * n, 0.5), ("Y" + "I" * (n - 1), -2.0)])]
    zz = [SparsePauliOp.from_list([("Z" * n, 1.5), ("I" * n, 0.25)])]
    for observables in ([*z, *zz], [*z, *mixed]):  # diagonal: from saved probabilities; mixed: saved expectations
        pub = Pub(primitives.prepare_exact(circuit, observables), values, tuple(observables))
        saves = {i.operation.name for i in pub.circuit.data if i.operation.name.startswith("save_")}
        assert saves == ({"save_probabilities"} if observables[-1] is zz[0] else {"save_expval"})
        (values_out,) = primitives.exact_expectations(simulator, [pub])
        for m, op in enumerate(observables):
            expected = [Statevector(_to_qiskit_order(s, n)).expectation_value(op).real for s in truth]
            assert np.abs(values_out[:, m] - expected).max() <= 1e-12

    # four runs of rows: whole experiments of k rows and one of the rest, never a row twice
    assert experiments == [-(-rows // k)] * 4


def _to_qiskit_order(state: np.ndarray, n: int) -> np.ndarray:
    return state.reshape([2] * n).transpose(range(n - 1, -1, -1)).reshape(-1)


def test_rows_per_experiment_grow_with_the_rows_and_shrink_as_the_state_grows():
    assert [stacking.rows_per_experiment(n, 4000) for n in (1, 4, 8, 9, 10, 11, 12, 20)] == [16, 16, 16, 8, 4, 2, 1, 1]
    assert [stacking.rows_per_experiment(4, rows) for rows in (1, 39, 40, 90, 160, 784, 2560, 12544)] == [
        1,
        1,
        2,
        3,
        4,
        8,
        16,
        16,
    ]


def test_a_4_qubit_training_step_sends_8_times_fewer_experiments(experiments):
    """W3's 4-qubit circuit at batch 16, one job for the step: 16 × 49 rows (forward and shifted) in 98
    experiments of 8 (784 before stacking), run in this process (workers = 1; tests/qiskit/test_workers.py counts
    the workers' rows)."""
    import dataclasses

    import torch

    from bridge import QuantumLayer, circuits, load_profile

    aer = load_profile("aer")
    layer = QuantumLayer(
        circuits.angle_entangling(4, 2),
        profile=dataclasses.replace(aer, qiskit=dataclasses.replace(aer.qiskit, workers=1)),
    )
    x = torch.rand(16, 4)
    layer(x).sum().backward()
    assert experiments == [16 * 49 // 8]


def test_what_cannot_be_stacked_is_refused():
    free = QuantumCircuit(1)
    free.h(0)
    with pytest.raises(ValueError, match="without parameters"):
        stacking.stack(free, 2)
    phased = QuantumCircuit(1, global_phase=Parameter("φ"))
    phased.rx(Parameter("a"), 0)
    with pytest.raises(ValueError, match="global phase"):
        stacking.stack(phased, 2)
    early = QuantumCircuit(1)
    early.save_statevector()
    early.rx(Parameter("a"), 0)
    with pytest.raises(ValueError, match="at the end"):
        stacking.stack(early, 2)


def test_diagonal_observables_are_read_from_probabilities_up_to_10_qubits():
    for n, save in ((10, "save_probabilities"), (11, "save_expval")):
        z = [SparsePauliOp("I" * (n - 1) + "Z")]
        prepared = primitives.prepare_exact(_circuit(n, phase=0.0), z)
        assert {i.operation.name for i in prepared.data if i.operation.name.startswith("save_")} == {save}
