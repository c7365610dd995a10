"""Pins: behaviour of PennyLane, Qiskit and Aer that the bridge relies on or works around. Each test fails with a
message saying what changed and what in the bridge to revisit, so an upgrade cannot change results silently."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Pauli
from qiskit_aer import AerSimulator


@pytest.mark.parametrize("gate", ["crx", "cry", "crz", "cp"])
def test_aer_ignores_parameter_binds_of_parametric_controlled_rotations(gate):
    """Why bridge.structure.DECOMPOSED_GATES exists: Aer 0.17 runs one experiment, the angle unbound."""
    theta = Parameter("θ")
    circuit = QuantumCircuit(2)
    circuit.x(0)
    getattr(circuit, gate)(theta, 0, 1)
    circuit.save_expectation_value(Pauli("ZI"), [0, 1], label="z")
    result = AerSimulator(method="statevector").run([circuit], parameter_binds=[{theta: [0.0, np.pi]}]).result()
    assert len(result.results) == 1, (
        f"Aer now binds a parametric {gate}: remove it from bridge.structure.DECOMPOSED_GATES (and this pin)")


def test_aer_binds_plain_rotations():
    """The contrast: a parametric rx gives one experiment per binding, as the device needs."""
    theta = Parameter("θ")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.save_expectation_value(Pauli("Z"), [0], label="z")
    result = AerSimulator(method="statevector").run([circuit], parameter_binds=[{theta: [0.0, np.pi]}]).result()
    assert [round(r.data.to_dict()["z"], 12) for r in result.results] == [1.0, -1.0]


def test_a_qnode_takes_its_default_shots_from_the_device():
    """bridge.backends.device gives a device its profile's shots; QNodes must still read them from there."""
    from bridge.backends import profile_shots

    with profile_shots():
        dev = qml.device("default.qubit", wires=1, shots=123)
    assert qml.QNode(lambda: qml.expval(qml.Z(0)), dev).shots.total_shots == 123, (
        "PennyLane no longer takes QNode shots from device.shots: profiles' shots need another route (set_shots)")


def test_bind_new_parameters_keeps_a_stale_batch_size_for_multirz():
    """Why bridge.broadcast exists (PennyLane's broadcast_expand relies on bind_new_parameters)."""
    from pennylane.ops.functions import bind_new_parameters

    op = qml.MultiRZ(np.array([0.1, 0.2, 0.3]), wires=[0, 1])
    assert op.batch_size == 3
    stale = bind_new_parameters(op, (0.1,)).batch_size
    assert stale == 3, "PennyLane fixed bind_new_parameters for MultiRZ: bridge.broadcast may defer to broadcast_expand"
