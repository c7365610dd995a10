"""The shot paths are statistically identical: counts drawn from the ideal simulator's exact probabilities (one
multinomial per row) against bitstrings sampled by Aer's SamplerV2, and the noisy simulator with its noise model
reduced to the circuit's qubits against the whole model."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from scipy import stats

from bridge.qiskit import QiskitBatchDevice

SHOTS = 1000
ROWS = 200  # one job: ROWS identical rows, each an independent draw of SHOTS shots


def _circuit(theta):
    qml.RY(theta, wires=0)
    qml.CNOT(wires=[0, 1])
    qml.RX(0.7, wires=2)
    qml.CRY(1.1, wires=[2, 1])
    return qml.probs(wires=[0, 1, 2])


def _counts(backend, seed):
    dev = QiskitBatchDevice(3, backend=backend, seed=seed)
    qnode = qml.set_shots(qml.QNode(_circuit, dev), shots=SHOTS)
    probs = np.asarray(qnode(np.full(ROWS, 0.9)))  # (ROWS, 8)
    return np.rint(probs * SHOTS).astype(int)


def test_counts_from_exact_probabilities_match_aers_sampler():
    exact = np.asarray(qml.QNode(_circuit, qml.device("default.qubit", wires=3))(0.9))
    ideal = _counts(AerSimulator(), seed=11)  # probabilities + multinomial
    sampled = _counts(AerSimulator(noise_model=NoiseModel()), seed=12)  # an empty noise model: SamplerV2 bitstrings
    assert ideal.sum(axis=1).tolist() == [SHOTS] * ROWS == sampled.sum(axis=1).tolist()
    # the pooled outcomes of both paths: one distribution (two-sample chi-square over the 8 outcomes)
    table = np.stack([ideal.sum(axis=0), sampled.sum(axis=0)])
    table = table[:, table.sum(axis=0) > 0]
    _, p_value, _, _ = stats.chi2_contingency(table)
    assert p_value > 1e-4
    # and per row, the spread of a frequency is the multinomial's: var = p(1 − p)/N, within sampling error
    for counts in (ideal, sampled):
        freq = counts / SHOTS
        expected = exact * (1 - exact) / SHOTS
        measured = freq.var(axis=0, ddof=1)
        mask = expected > 1e-4
        ratio = measured[mask] / expected[mask]
        assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / (ROWS - 1))), ratio  # 5σ of a sample variance
        assert np.all(np.abs(freq.mean(axis=0) - exact) <= 5 * np.sqrt(expected / ROWS) + 1e-12)


def test_a_seeded_device_draws_the_same_counts():
    assert np.array_equal(_counts(AerSimulator(), seed=3), _counts(AerSimulator(), seed=3))
    assert not np.array_equal(_counts(AerSimulator(), seed=3), _counts(AerSimulator(), seed=4))


@pytest.mark.parametrize("seed", [5, 6])
def test_the_reduced_noise_model_gives_the_same_draws_as_the_whole_one(seed):
    """Aer with the same seed: identical counts, the noise of the circuit's qubits alone or of the whole device."""
    from qiskit import QuantumCircuit, transpile
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from bridge.backends import reduced_noise_model

    whole = AerSimulator.from_backend(FakeManilaV2())
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.ry(0.4, 1)
    circuit.measure([0, 1], [0, 1])
    isa = transpile(circuit, whole, optimization_level=1, seed_transpiler=1)
    active = frozenset(isa.find_bit(q).index for inst in isa.data for q in inst.qubits)
    reduced = AerSimulator.from_backend(
        FakeManilaV2(), noise_model=reduced_noise_model(whole.options.noise_model, active)
    )
    assert len(active) < 5
    a = whole.run(isa, shots=4000, seed_simulator=seed).result().get_counts()
    b = reduced.run(isa, shots=4000, seed_simulator=seed).result().get_counts()
    assert a == b


def test_the_noisy_simulators_own_counts_fit_the_exact_distribution():
    """Aer's counts of routed, measured circuits (the noisy path): wire order and layout right, exact probabilities
    recovered. An empty noise model takes that path without noise, so a goodness-of-fit test applies."""
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    routed = AerSimulator.from_backend(FakeManilaV2(), noise_model=NoiseModel())
    dev = QiskitBatchDevice(3, backend=routed, seed=9)
    qnode = qml.set_shots(qml.QNode(_circuit, dev), shots=SHOTS)
    with qml.Tracker(dev) as tracker:
        counts = np.rint(np.asarray(qnode(np.full(ROWS, 0.9))) * SHOTS).astype(int).sum(axis=0)
    assert tracker.totals["primitive_jobs"] == 1
    exact = np.asarray(qml.QNode(_circuit, qml.device("default.qubit", wires=3))(0.9))
    mask = exact > 1e-9
    assert counts[~mask].sum() == 0
    _, p_value = stats.chisquare(counts[mask], exact[mask] / exact[mask].sum() * counts.sum())
    assert p_value > 1e-4
