"""The circuit library against closed forms and Qiskit's own circuit library (exact, default.qubit)."""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import pytest

from bridge import circuits


def _run(spec, inputs, **weights):
    dev = qml.device("default.qubit", wires=spec.n_wires)
    return np.array(qml.QNode(spec.qfunc, dev)(inputs, **weights))


@pytest.mark.parametrize("theta", [-2.0, 0.0, 0.3, 1.7])
def test_textbook_hry_is_minus_sin(theta):
    (z,) = _run(circuits.textbook_hry(), np.array([theta]))
    assert z == pytest.approx(-math.sin(theta), abs=1e-12)


def _qiskit_zz_expectations(x, w, reps):
    from qiskit.circuit.library import real_amplitudes, zz_feature_map
    from qiskit.quantum_info import SparsePauliOp, Statevector

    n = len(x)
    fmap = zz_feature_map(n, reps=2, entanglement="full")
    ansatz = real_amplitudes(n, reps=reps)
    circuit = fmap.compose(ansatz)
    bound = circuit.assign_parameters(
        dict(zip(fmap.parameters, x, strict=True)) | dict(zip(ansatz.parameters, w.reshape(-1), strict=True))
    )
    return Statevector(bound).expectation_value(SparsePauliOp("Z" * n)).real


@pytest.mark.parametrize("n_wires", [2, 3])
@pytest.mark.parametrize("reps", [1, 2])
def test_zz_real_amplitudes_matches_qiskit_library(n_wires, reps):
    rng = np.random.default_rng(7 + n_wires + reps)
    x = rng.uniform(0, math.pi, n_wires)
    w = rng.uniform(-math.pi, math.pi, (reps + 1, n_wires))
    (ours,) = _run(circuits.zz_real_amplitudes(n_wires, reps), x, weights=w)
    assert ours == pytest.approx(_qiskit_zz_expectations(x, w, reps), abs=1e-10)


def test_qaoa_two_nodes_closed_form():
    # One edge, p=1: <Z0 Z1> = -sin(gamma) sin(4 beta)... checked against a direct matrix computation.
    spec = circuits.qaoa_maxcut([(0, 1)], depth=1)
    gamma, beta = 0.7, 0.4
    (zz,) = _run(spec, np.zeros(0), gammas=np.array([gamma]), betas=np.array([beta]))
    plus = np.ones(4) / 2
    zz_diag = np.array([1, -1, -1, 1])
    state = np.exp(-0.5j * gamma * zz_diag) * plus
    rx = np.array([[math.cos(beta), -1j * math.sin(beta)], [-1j * math.sin(beta), math.cos(beta)]])
    state = np.kron(rx, rx) @ state
    assert zz == pytest.approx(float(np.real(np.conj(state) @ (zz_diag * state))), abs=1e-12)


def test_angle_entangling_shapes_and_outputs():
    spec = circuits.angle_entangling(3, 2, n_outputs=2)
    assert (spec.n_inputs, spec.n_outputs, spec.weight_shapes) == (3, 2, {"weights": (2, 3, 3)})
    out = _run(spec, np.array([0.1, 0.2, 0.3]), weights=np.zeros((2, 3, 3)))
    # zero weights: StronglyEntanglingLayers is a CNOT ring; check against an explicit circuit
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def reference():
        for w, a in enumerate([0.1, 0.2, 0.3]):
            qml.RX(a, wires=w)
        for _ in range(2):
            for w in range(3):
                qml.CNOT(wires=[w, (w + 1) % 3]) if _ == 0 else qml.CNOT(wires=[w, (w + 2) % 3])
        return [qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliZ(1))]

    assert out == pytest.approx(np.array(reference()), abs=1e-12)


def test_invalid_library_arguments():
    with pytest.raises(ValueError, match="n_outputs"):
        circuits.angle_entangling(2, 1, n_outputs=3)
    with pytest.raises(ValueError, match="nodes must be 0..n-1"):
        circuits.qaoa_maxcut([(0, 2)])
