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
    """Why bridge.qiskit.structure.DECOMPOSED_GATES exists: Aer 0.17 runs one experiment, the angle unbound."""
    theta = Parameter("θ")
    circuit = QuantumCircuit(2)
    circuit.x(0)
    getattr(circuit, gate)(theta, 0, 1)
    circuit.save_expectation_value(Pauli("ZI"), [0, 1], label="z")
    result = AerSimulator(method="statevector").run([circuit], parameter_binds=[{theta: [0.0, np.pi]}]).result()
    assert len(result.results) == 1, (
        f"Aer now binds a parametric {gate}: remove it from bridge.qiskit.structure.DECOMPOSED_GATES (and this pin)"
    )


def test_aer_binds_plain_rotations():
    """The contrast: a parametric rx gives one experiment per binding, as the device needs."""
    theta = Parameter("θ")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.save_expectation_value(Pauli("Z"), [0], label="z")
    result = AerSimulator(method="statevector").run([circuit], parameter_binds=[{theta: [0.0, np.pi]}]).result()
    assert [round(r.data.to_dict()["z"], 12) for r in result.results] == [1.0, -1.0]


def test_a_qnode_takes_its_default_shots_from_the_device():
    """bridge.device_factory.device gives a device its profile's shots; QNodes must still read them from there."""
    from bridge.device_factory import profile_shots

    with profile_shots():
        dev = qml.device("default.qubit", wires=1, shots=123)
    assert qml.QNode(lambda: qml.expval(qml.Z(0)), dev).shots.total_shots == 123, (
        "PennyLane no longer takes QNode shots from device.shots: profiles' shots need another route (set_shots)"
    )


def test_bind_new_parameters_keeps_a_stale_batch_size_for_multirz():
    """Why bridge.broadcast exists (PennyLane's broadcast_expand relies on bind_new_parameters)."""
    from pennylane.ops.functions import bind_new_parameters

    op = qml.MultiRZ(np.array([0.1, 0.2, 0.3]), wires=[0, 1])
    assert op.batch_size == 3
    stale = bind_new_parameters(op, (0.1,)).batch_size
    assert stale == 3, "PennyLane fixed bind_new_parameters for MultiRZ: bridge.broadcast may defer to broadcast_expand"


# ------------------------------------------------------------------ internals of other libraries the bridge uses
def test_pennylane_qiskits_gate_map():
    """bridge.qiskit.structure builds circuits from pennylane_qiskit.converter.QISKIT_OPERATION_MAP (name → gate
    class); bridge.qiskit.compile derives the device's native gate set from its keys."""
    from pennylane_qiskit.converter import QISKIT_OPERATION_MAP
    from qiskit.circuit.library import RXGate, RZZGate, UnitaryGate

    assert QISKIT_OPERATION_MAP["RX"] is RXGate and QISKIT_OPERATION_MAP["IsingZZ"] is RZZGate
    assert QISKIT_OPERATION_MAP["QubitUnitary"] is UnitaryGate
    assert {"CNOT", "Hadamard", "RY", "RZ", "PhaseShift", "U3", "StatePrep"} <= set(QISKIT_OPERATION_MAP)


def test_pennylanes_measure_of_a_batch_of_states():
    """bridge.qiskit.readers reads exact results with pennylane.devices.qubit.measure(mp, states, is_state_batched)."""
    from pennylane.devices.qubit import measure

    states = np.zeros((2, 2, 2), dtype=complex)
    states[0, 0, 0] = 1.0  # |00>
    states[1, 1, 1] = 1.0  # |11>
    np.testing.assert_allclose(measure(qml.expval(qml.Z(0)), states, is_state_batched=True), [1.0, -1.0])
    np.testing.assert_allclose(measure(qml.probs(wires=[1]), states, is_state_batched=True), [[1, 0], [0, 1]])


def test_a_tapes_par_info():
    """bridge.qiskit.shift maps trainable parameters to gates through tape.par_info: op, op_idx, p_idx."""
    tape = qml.tape.QuantumScript([qml.RX(0.1, 0), qml.Rot(0.2, 0.3, 0.4, wires=1)], [qml.expval(qml.Z(0))])
    info = tape.par_info[2]
    assert info["op"].name == "Rot" and info["op_idx"] == 1 and info["p_idx"] == 1


def test_aer_results_by_experiment():
    """bridge.qiskit.primitives reads result.results[i].data: to_dict() for saved expectation values, statevector
    for a saved state, one entry per bound experiment, in binding order."""
    theta = Parameter("θ")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.save_expectation_value(Pauli("Z"), [0], label="Z")
    circuit.save_statevector()
    result = AerSimulator(method="statevector").run([circuit], parameter_binds=[{theta: [0.0, np.pi]}]).result()
    assert [round(r.data.to_dict()["Z"], 12) for r in result.results] == [1.0, -1.0]
    np.testing.assert_allclose(np.abs(np.asarray(result.results[1].data.statevector)), [0.0, 1.0], atol=1e-12)


def test_the_fake_provider_lists_the_fake_devices_by_class():
    """bridge.backends.fake_backend looks fake devices up in FakeProviderForBackendV2().backends()."""
    from bridge.backends import fake_backend_classes

    classes = fake_backend_classes()
    assert {"FakeManilaV2", "FakeBrisbane", "FakeKyiv"} <= set(classes)
    assert classes["FakeManilaV2"]().name == "fake_manila"


def test_qiskit_ibm_runtime_derives_the_iam_endpoint_from_the_api_url():
    """bridge.ibm probes the endpoints the runtime contacts; it derives IAM's the runtime's way."""
    from qiskit_ibm_runtime.utils.utils import get_iam_api_url

    from bridge.ibm import endpoints

    assert endpoints("https://cloud.ibm.com")[1] == get_iam_api_url("https://cloud.ibm.com")


def test_qnode_update_keeps_transforms_and_shots():
    """bridge.layers wraps a user's QNode with QNode.update(func=...), which keeps its transforms and shots."""
    dev = qml.device("default.qubit", wires=1)
    qnode = qml.set_shots(qml.transforms.merge_rotations(qml.QNode(lambda: qml.expval(qml.Z(0)), dev)), shots=7)
    updated = qnode.update(func=lambda: qml.expval(qml.X(0)))
    assert updated.shots.total_shots == 7 and len(updated.compile_pipeline) == len(qnode.compile_pipeline) == 1


def test_aers_noise_model_error_tables():
    """bridge.backends.reduced_noise_model reads NoiseModel._local_quantum_errors ({gate: {qubits: error}}) and
    _local_readout_errors ({qubits: error}) and rebuilds with add_quantum_error/add_readout_error."""
    from qiskit_aer.noise import NoiseModel, QuantumError, ReadoutError
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    model = NoiseModel.from_backend(FakeManilaV2())
    quantum = model._local_quantum_errors
    assert "cx" in quantum and all(isinstance(e, QuantumError) for by in quantum.values() for e in by.values())
    assert all(isinstance(q, tuple) for by in quantum.values() for q in by)
    readout = model._local_readout_errors
    assert (0,) in readout and isinstance(readout[(0,)], ReadoutError)


def test_qiskit_sympify_swaps_operands_of_a_subexpression_on_the_right():
    """Why bridge.expressions exists: Qiskit 2.3's ParameterExpression.sympify() reads ``(-0.5)*(a - 3*b)`` as
    ``0.5*a - 1.5*b``. Transpiling crx(w0 - 3*w1) produces such angles."""
    import sympy

    a, b = Parameter("a"), Parameter("b")
    expression = (-0.5) * (a - 3 * b)
    qiskits = sympy.sympify(expression.sympify()).subs({sympy.Symbol("a"): 1.0, sympy.Symbol("b"): 0.0})
    assert float(qiskits) == 0.5, (
        "Qiskit's sympify() now reads a subexpression on the right correctly: bridge.expressions.to_sympy may be "
        "replaced by it (keep tests/test_expressions.py)"
    )
    assert float(expression.bind({a: 1.0, b: 0.0})) == -0.5


def test_aer_fails_runtime_binding_of_a_parameterized_global_phase():
    """Why bridge.qiskit.primitives.phase_for_aer exists: Aer 0.17 with runtime parameter binding fails a circuit
    whose global phase holds a parameter once more than one binding is run."""
    t0, t1 = Parameter("t0"), Parameter("t1")
    circuit = QuantumCircuit(1)
    circuit.rz(t0, 0)
    circuit.sx(0)
    circuit.global_phase = t1
    circuit.measure_all()
    backend = AerSimulator(method="statevector", runtime_parameter_bind_enable=True)
    result = backend.run([circuit], parameter_binds=[{t0: [0.1, 0.2], t1: [0.3, 0.4]}], shots=16).result()
    assert not result.success, (
        "Aer now binds a parameterized global phase at run time: bridge.qiskit.primitives.phase_for_aer may go "
        "(keep the GlobalPhase tests of tests/layers/test_user_qnode.py)"
    )


def test_pennylane_keeps_the_device_jacobians_of_the_forward_pass_for_the_backward_pass():
    """Why one training step is one job: with ``use_device_gradient`` and ``grad_on_execution`` (and no device
    Jacobian products), PennyLane 0.45's ML pipeline uses ``DeviceDerivatives``, whose forward pass calls the
    device's ``execute_and_compute_derivatives`` and keeps the Jacobians for the backward pass."""
    import importlib
    import inspect

    from pennylane.workflow import jacobian_products

    run = importlib.import_module("pennylane.workflow.run")  # the module, not the function of that name
    pipeline = inspect.getsource(run._construct_ml_execution_pipeline)
    assert "DeviceJacobianProducts" in pipeline and "DeviceDerivatives" in pipeline, (
        "PennyLane changed how it picks the derivative path: revisit bridge.qiskit.device.setup_execution_config"
    )
    cached = inspect.getsource(jacobian_products.DeviceDerivatives)
    assert "execute_and_compute_derivatives" in cached and "_jacs_cache" in cached, (
        "PennyLane's DeviceDerivatives no longer caches the forward pass's Jacobians: a step may become two jobs"
    )
