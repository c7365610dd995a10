"""The batched ``bridge.qiskit`` device against PennyLane's default.qubit, stock pennylane-qiskit and itself."""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import pytest
import torch
from pennylane.exceptions import DeviceError

from bridge import QuantumLayer, circuits
from bridge.qiskit import QiskitBatchDevice

EXACT = 1e-10
K_SIGMA = 5.0


def _mixed(x, w):
    qml.AngleEmbedding(x, wires=range(4))
    qml.StronglyEntanglingLayers(w, wires=range(4))
    qml.CRX(w[0, 0, 0], wires=[0, 2])  # decomposed by the device (see structure.DECOMPOSED_GATES)
    qml.IsingZZ(0.5 * w[0, 1, 1], wires=[1, 3])
    return [
        qml.expval(qml.PauliZ(0)),
        qml.expval(qml.PauliX(1) @ qml.PauliY(3)),
        qml.var(qml.PauliX(0) @ qml.PauliY(2)),
        qml.expval(qml.Hamiltonian([0.3, -1.2], [qml.PauliZ(1), qml.PauliX(2)])),
    ]


def _z_after(gate):
    """A circuit function ``f(*args)``: ``gate(*args)`` then ⟨Z_0⟩."""

    def f(*args):
        gate(*args)
        return qml.expval(qml.PauliZ(0))

    return f


def _inputs(batch):
    gen = torch.Generator().manual_seed(4)
    shape = (batch, 4) if batch else (4,)
    x = torch.rand(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, w


@pytest.mark.parametrize("batch", [None, 5])
def test_exact_values_and_device_gradients_equal_default_qubit(batch):
    dev = QiskitBatchDevice(4)
    ref = qml.device("default.qubit", wires=4)
    results = []
    for d, method in ((dev, "device"), (ref, "backprop")):
        x, w = _inputs(batch)
        y = torch.stack(qml.QNode(_mixed, d, interface="torch", diff_method=method)(x, w), -1)
        grads = torch.autograd.grad((y * torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)).sum(), (x, w))
        results.append((y, *grads))
    for ours, want in zip(*results, strict=True):
        torch.testing.assert_close(ours, want, atol=EXACT, rtol=0)


def test_parameter_shift_transform_also_works_on_the_device():
    dev = QiskitBatchDevice(4)
    x, w = _inputs(None)
    y = torch.stack(qml.QNode(_mixed, dev, interface="torch", diff_method="parameter-shift")(x, w), -1)
    gx, gw = torch.autograd.grad(y.sum(), (x, w))
    x2, w2 = _inputs(None)
    y2 = torch.stack(qml.QNode(_mixed, qml.device("default.qubit", wires=4), interface="torch")(x2, w2), -1)
    rx, rw = torch.autograd.grad(y2.sum(), (x2, w2))
    torch.testing.assert_close((gx, gw), (rx, rw), atol=EXACT, rtol=0)


def test_other_measurements_and_wire_labels_exact():
    labels = ["a", 7, "z"]
    dev, ref = QiskitBatchDevice(labels), qml.device("default.qubit", wires=labels)

    def f(t):
        qml.Hadamard("a")
        qml.RY(t, wires=7)
        qml.CNOT(wires=["a", "z"])
        qml.QubitUnitary(np.array([[0, 1], [1, 0]]), wires="z")
        return (
            qml.probs(wires=["z", "a"]),
            qml.state(),
            qml.expval(qml.Hermitian(np.diag([1.0, 3.0]), wires=7)),
            qml.var(qml.PauliY(7)),
        )

    for ours, want in zip(qml.QNode(f, dev)(0.4), qml.QNode(f, ref)(0.4), strict=True):
        np.testing.assert_allclose(ours, want, atol=EXACT)
    batch = np.array([0.1, 0.9, 2.0])
    for ours, want in zip(qml.QNode(f, dev)(batch), qml.QNode(f, ref)(batch), strict=True):
        np.testing.assert_allclose(ours, want, atol=EXACT)


def test_agrees_with_stock_pennylane_qiskit():
    x, w = _inputs(3)
    torch.manual_seed(0)
    ours = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer").double()
    stock = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer-stock").double()
    stock.load_state_dict(ours.state_dict())
    out = []
    for layer in (ours, stock):
        xx = x.detach().clone().requires_grad_(True)
        y = layer(xx)
        y.sum().backward()
        out.append((y, xx.grad, layer.qlayer.weights.grad))
    for a, b in zip(*out, strict=True):
        torch.testing.assert_close(a, b, atol=EXACT, rtol=0)


@pytest.mark.parametrize("batch", [1, 16, 64])
def test_one_training_step_is_two_primitive_jobs_on_a_fake_ibm_backend(batch):
    """Forward (one job) and backward (one job), whatever the batch size: 4 qubits, 24 weights."""
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer-noisy")
    assert sum(p.numel() for p in layer.parameters()) == 24
    dev = layer.qlayer.qnode.device
    assert dev.backend.name.startswith("aer_simulator_from(fake_manila")
    x = torch.rand(batch, 4, requires_grad=True)
    with qml.Tracker(dev) as tracker:
        layer(x).sum().backward()
    assert tracker.totals["primitive_jobs"] <= 2
    # every sample: one forward row, then two shifted rows per angle (4 inputs + 24 weights)
    assert tracker.totals["pub_rows"] == batch * (1 + 2 * (4 + 24))
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_structures_are_compiled_once_and_the_cache_is_bounded():
    dev = QiskitBatchDevice(2, cache_size=2)
    qnode = qml.QNode(_z_after(lambda t: qml.RX(t, 0)), dev)
    for t in (0.1, 0.2, 0.3):
        qnode(t)
    assert dev.compiler.stats == {"hits": 2, "misses": 1}
    for wire in (0, 1):  # two more structures: the first one is evicted
        qml.QNode(_z_after(lambda t, w=wire: qml.RY(t, w)), dev)(0.5)
    assert dev.compiler.stats["misses"] == 3 and len(dev.compiler) == 2
    qnode(0.4)  # evicted: compiled again
    assert dev.compiler.stats["misses"] == 4


def test_shots_are_seeded_reproducible_and_within_shot_noise():
    shots = 2000

    def run(seed):
        dev = QiskitBatchDevice(4, seed=seed)
        x, w = _inputs(6)
        q = qml.set_shots(qml.QNode(_mixed, dev, interface="torch", diff_method="device"), shots=shots)
        y = q(x, w)[0]
        (gx,) = torch.autograd.grad(y.sum(), (x,))  # the variance among the outputs is differentiated too
        return y.detach(), gx

    (y1, g1), (y2, g2), (y3, _) = run(7), run(7), run(8)
    assert torch.equal(y1, y2) and torch.equal(g1, g2) and not torch.equal(y1, y3)
    x, w = _inputs(6)
    exact = torch.stack(qml.QNode(_mixed, qml.device("default.qubit", wires=4), interface="torch")(x, w), -1)[:, 0]
    (gexact,) = torch.autograd.grad(exact.sum(), (x,))
    assert ((y1 - exact.detach()).abs() <= K_SIGMA / math.sqrt(shots)).all()
    assert ((g1 - gexact).abs() <= K_SIGMA * math.sqrt(1 / (2 * shots))).all()


def test_consecutive_jobs_get_independent_shot_noise():
    dev = QiskitBatchDevice(1, seed=3)
    q = qml.set_shots(qml.QNode(_z_after(lambda: qml.Hadamard(0)), dev), shots=500)
    assert len({float(q()) for _ in range(5)}) > 1


def test_shot_vectors():
    dev = QiskitBatchDevice(2, seed=1)

    @qml.set_shots(shots=[(100, 2), 300])
    @qml.qnode(dev)
    def f():
        qml.Hadamard(0)
        return qml.expval(qml.PauliZ(0)), qml.probs(wires=1), qml.counts(wires=0)

    result = f()
    assert len(result) == 3 and all(len(r) == 3 for r in result)
    assert sum(result[2][2].values()) == 300 and np.allclose(result[0][1], [1.0, 0.0])


def test_runtime_primitives_on_a_fake_backend_in_local_mode():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    dev = QiskitBatchDevice(2, backend=FakeManilaV2(), seed_transpiler=1)

    def f(t):
        qml.RY(t, 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.PauliZ(1))

    q = qml.set_shots(qml.QNode(f, dev), shots=4000)
    with qml.Tracker(dev) as tracker:
        value = float(q(np.pi))
    assert tracker.totals["primitive_jobs"] == 1
    assert value < -0.8  # |11>: <Z_1> = -1, minus Manila's readout and gate errors


def test_exact_mode_is_refused_on_noisy_backends():
    layer_dev = QuantumLayer(circuits.textbook_hry(), profile="aer-noisy").qlayer.qnode.device
    q = qml.set_shots(qml.QNode(_z_after(lambda: qml.Hadamard(0)), layer_dev), shots=None)
    with pytest.raises(
        DeviceError,
        match=r"on profile 'aer-noisy' \(backend aer_simulator_from\(fake_manila\)\) "
        r"has no exact mode: .*set shots",
    ):
        q()


def test_device_gradient_of_a_trainable_matrix_is_refused_with_the_alternative():
    dev = QiskitBatchDevice(1)
    q = qml.QNode(_z_after(lambda u: qml.QubitUnitary(u, 0)), dev, interface="torch", diff_method="device")
    u = torch.eye(2, dtype=torch.complex128, requires_grad=True)
    with pytest.raises(DeviceError, match="differentiates gate angles only.*diff_method='parameter-shift'"):
        torch.autograd.grad(q(u).real, u)


def test_too_many_wires_for_the_backend():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    with pytest.raises(DeviceError, match="6 wires do not fit on backend fake_manila"):
        QiskitBatchDevice(6, backend=FakeManilaV2())


def test_registered_as_a_pennylane_plugin():
    dev = qml.device("bridge.qiskit", wires=2, profile="aer")
    assert isinstance(dev, QiskitBatchDevice)
    assert float(qml.QNode(_z_after(lambda: qml.PauliX(0)), dev)()) == -1.0
