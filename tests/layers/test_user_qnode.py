"""A user's own QNode on the bridge's devices: problems 1-8 of the "device as a library" issue, each reproduced.

1. a profile's shots hold on every path (and exact means exact); 2. every diff method a user may write;
3. no empty job; 4. var of sums with shots; 5. batched values equal unbatched ones for PennyLane's gate set;
6. layers that pickle and take a QNode or a quantum function; 7. job counts (tests/qiskit/test_job_counts.py);
8. the Aer behaviour the device works around, pinned (tests/qiskit/test_pins.py).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math

import numpy as np
import pennylane as qml
import pytest
import torch
from pennylane.exceptions import DeviceError

import bridge
from bridge import QuantumLayer, circuits, load_profile, make_qnode
from bridge.exceptions import InputError
from bridge.verification.shot_noise import spread

EXACT = 1e-10
K_SIGMA = 5.0
LOCAL_PROFILES = ["default", "lightning", "aer-stock", "aer", "aer-shots", "aer-noisy", "ibm-fake-manila"]
BRIDGE_PROFILES = ["aer", "aer-shots", "aer-noisy", "ibm-fake-manila"]


def _rx(x):
    qml.RX(x, wires=0)
    return qml.expval(qml.PauliZ(0))


def _executed_shots(dev, run):
    """Shots per circuit that reached the device while ``run()`` ran (0: exact), from its tracker."""
    with qml.Tracker(dev) as tracker:
        run()
    if dev.name == "bridge.qiskit":
        totals = tracker.totals
        return totals["circuit_shots"] // totals["pub_rows"]
    return tracker.totals.get("shots", 0)


# ------------------------------------------------------------------ 1. shots: one rule on every path
def _by_path(path, profile):
    """(device, a zero-argument run) for one RX circuit built along ``path``."""
    if path == "qml.device":
        dev = qml.device("bridge.qiskit", wires=1, profile=profile)
        qnode = qml.QNode(_rx, dev)
        return dev, lambda: qnode(0.3)
    if path == "bridge.device":
        dev = bridge.device(profile, 1)
        qnode = qml.QNode(_rx, dev)
        return dev, lambda: qnode(0.3)
    if path == "make_qnode":
        qnode = make_qnode(_rx, profile, 1)
        return qnode.device, lambda: qnode(torch.tensor(0.3))
    layer = QuantumLayer(circuits.textbook_hry(), profile=profile)
    return layer.qlayer.qnode.device, lambda: layer(torch.tensor([0.3]))


PATHS = ["qml.device", "bridge.device", "make_qnode", "QuantumLayer"]
# qml.device("bridge.qiskit", profile=...) takes bridge.qiskit profiles only (the refusal is tested below)
PROFILE_PATHS = [(p, path) for p in LOCAL_PROFILES for path in PATHS if path != "qml.device" or p in BRIDGE_PROFILES]


@pytest.mark.parametrize(("profile", "path"), PROFILE_PATHS)
def test_a_profiles_shots_hold_on_every_path(profile, path):
    prof = load_profile(profile)
    dev, run = _by_path(path, profile)
    assert dev.shots.total_shots == prof.shots
    assert _executed_shots(dev, run) == (prof.shots or 0)


@pytest.mark.parametrize("profile", BRIDGE_PROFILES)
def test_explicit_shots_override_the_profile(profile):
    dev = qml.device("bridge.qiskit", wires=1, profile=profile)
    qnode = qml.set_shots(qml.QNode(_rx, dev), shots=300)
    assert _executed_shots(dev, lambda: qnode(0.3)) == 300
    exact = qml.set_shots(qml.QNode(_rx, dev), shots=None)
    if load_profile(profile).qiskit.backend == "aer" and not load_profile(profile).qiskit.noise_backend:
        assert _executed_shots(dev, lambda: exact(0.3)) == 0
        assert float(exact(0.3)) == pytest.approx(math.cos(0.3), abs=EXACT)
    else:  # exact means exact: a noisy simulator or hardware cannot, and says so naming the profile
        with pytest.raises(DeviceError, match=rf"on profile '{profile}' .*has no exact mode"):
            exact(0.3)


def test_a_profile_of_another_device_is_refused_by_bridge_qiskit():
    with pytest.raises(
        bridge.ProfileError,
        match=r"profile 'default' runs on default.qubit, not bridge.qiskit; "
        r"build it with bridge.device\('default', wires\)",
    ):
        qml.device("bridge.qiskit", wires=1, profile="default")


# ------------------------------------------------------------------ 2. every diff method a user may write
def _user_circuit(x, w):
    qml.AngleEmbedding(x, wires=range(2), rotation="Y")
    qml.BasicEntanglerLayers(w, wires=range(2))
    return qml.expval(qml.PauliZ(0) @ qml.PauliX(1)), qml.expval(qml.PauliZ(1))


def _grads(dev, diff_method, x, w):
    xx, ww = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    y = torch.stack(qml.QNode(_user_circuit, dev, interface="torch", diff_method=diff_method)(xx, ww), -1)
    gx, gw = torch.autograd.grad((y * torch.tensor([1.0, -2.0], dtype=torch.float64)).sum(), (xx, ww))
    return y.detach(), gx, gw


@pytest.mark.parametrize("diff_method", ["best", "device", "parameter-shift"])
def test_bridge_qiskit_answers_best_device_and_parameter_shift_with_its_batched_shift_rule(diff_method):
    """Batched inputs that require grad included (PennyLane #6078 does not arise): one job backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, generator=gen, dtype=torch.float64)
    w = torch.rand(2, 2, generator=gen, dtype=torch.float64)
    want = _grads(qml.device("default.qubit", wires=2), "backprop", x, w)
    dev = qml.device("bridge.qiskit", wires=2, profile="aer")
    with qml.Tracker(dev) as tracker:
        got = _grads(dev, diff_method, x, w)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=EXACT, rtol=0)
    assert tracker.totals["primitive_jobs"] == 1  # forward and every shifted row of the backward pass, fused


@pytest.mark.parametrize("diff_method", ["finite-diff", "spsa"])
def test_gradient_transforms_work_on_bridge_qiskit(diff_method):
    """PennyLane's transforms run through the device; the bridge's QNodes split batches whose inputs are trainable
    (a raw QNode with batched trainable inputs gets PennyLane's #4462 error on every device, default.qubit too)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, generator=gen, dtype=torch.float64)
    w = torch.rand(2, 2, generator=gen, dtype=torch.float64)
    want = _grads(qml.device("default.qubit", wires=2), "backprop", x, w)
    profile = dataclasses.replace(load_profile("aer"), diff_method=diff_method)
    qnode = make_qnode(_user_circuit, profile, 2)
    xx, ww = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    y = torch.stack(qnode(xx, ww), -1)
    got = (y.detach(), *torch.autograd.grad((y * torch.tensor([1.0, -2.0], dtype=torch.float64)).sum(), (xx, ww)))
    torch.testing.assert_close(got[0], want[0], atol=EXACT, rtol=0)
    if diff_method == "finite-diff":  # forward differences, step 1e-7: truncation error ~1e-7
        torch.testing.assert_close(got[1:], want[1:], atol=1e-5, rtol=0)
    else:  # a stochastic estimator: finite and shaped, not accurate
        assert got[1].shape == want[1].shape and torch.isfinite(got[2]).all()


@pytest.mark.parametrize("diff_method", ["adjoint", "backprop"])
def test_methods_the_device_cannot_serve_are_refused(diff_method, tmp_path):
    """PennyLane's convention: the device says it does not support them (its device suite then skips them), and
    the QNode is refused when built; a profile asking for them is refused naming the methods that work."""
    dev = qml.device("bridge.qiskit", wires=1, profile="aer")
    with pytest.raises(qml.exceptions.QuantumFunctionError, match=f"does not support {diff_method}"):
        qml.QNode(_rx, dev, diff_method=diff_method)
    path = tmp_path / "mine.toml"
    path.write_text(f'description = "x"\ndevice = "bridge.qiskit"\ndiff_method = "{diff_method}"\n')
    with pytest.raises(
        bridge.ProfileError,
        match=rf"does not support diff_method '{diff_method}'.*Use \"device\", "
        r"\"best\" or \"parameter-shift\".*\"finite-diff\" / \"spsa\"",
    ):
        load_profile(path)


def _weighted_hamiltonian(x, c):
    qml.RX(x, wires=0)
    qml.RY(0.3, wires=1)
    return qml.expval(qml.Hamiltonian(c, [qml.PauliZ(0), qml.PauliX(1)]))


@pytest.mark.parametrize("diff_method", ["best", "parameter-shift"])
def test_what_the_device_rule_cannot_cover_falls_back_to_pennylanes_transform(diff_method):
    """A trainable Hamiltonian coefficient: PennyLane's parameter-shift transform answers it (jobs per tape)."""
    dev = qml.device("bridge.qiskit", wires=2, profile="aer")
    x = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.7, -1.1], dtype=torch.float64, requires_grad=True)
    y = qml.QNode(_weighted_hamiltonian, dev, diff_method=diff_method)(x, c)
    gx, gc = torch.autograd.grad(y, (x, c))
    torch.testing.assert_close(gx, -0.7 * torch.sin(x), atol=EXACT, rtol=0)
    torch.testing.assert_close(
        gc, torch.stack([torch.cos(x), torch.sin(torch.tensor(0.3, dtype=torch.float64))]), atol=EXACT, rtol=0
    )
    with pytest.raises(DeviceError, match="differentiates gate angles only.*LinearCombination"):
        torch.autograd.grad(qml.QNode(_weighted_hamiltonian, dev, diff_method="device")(x, c), (x, c))


# ------------------------------------------------------------------ 3. no empty job, no crash
def _global_phase_only(x, phi):
    qml.RX(x, wires=0)
    qml.GlobalPhase(phi, wires=0)
    return qml.expval(qml.PauliZ(0))


@pytest.mark.parametrize("profile", ["aer", "aer-shots"])
def test_a_trainable_global_phase_alone_gives_exact_zeros_without_a_job(profile, monkeypatch):
    from qiskit_aer import AerSimulator

    runs = []
    original = AerSimulator.run
    monkeypatch.setattr(AerSimulator, "run", lambda self, *a, **k: runs.append(a) or original(self, *a, **k))
    dev = qml.device("bridge.qiskit", wires=1, profile=profile)
    phi = torch.tensor(0.4, requires_grad=True)
    qnode = qml.QNode(_global_phase_only, dev, interface="torch", diff_method="device")
    value = qnode(torch.tensor(0.3), phi)
    assert len(runs) == 1  # the forward pass
    (grad,) = torch.autograd.grad(value, phi)
    assert grad.item() == 0.0 and len(runs) == 1  # no backward job (an empty one crashed Aer)


# ------------------------------------------------------------------ 4. var of sums with shots
def _state():
    qml.RY(0.7, wires=0)
    qml.RX(1.1, wires=1)
    qml.CNOT(wires=[0, 1])


@pytest.mark.parametrize(
    "obs",
    [qml.Z(0) + qml.Z(1), 0.5 * qml.X(0) + qml.Z(1) - 0.3 * qml.X(0) @ qml.Z(1), qml.X(0) + qml.Z(0)],
    ids=["commuting", "with-coefficients", "non-commuting"],
)
def test_variance_of_a_sum_with_shots(obs):
    shots = 20_000
    dev = qml.device("bridge.qiskit", wires=2, profile="aer-shots")
    qnode = qml.set_shots(qml.QNode(lambda: _state() or qml.var(obs), dev), shots=shots)
    got = float(qnode())
    want = float(qml.QNode(lambda: _state() or qml.var(obs), qml.device("default.qubit", wires=2))())
    sigma = spread(qml.var(obs)) / math.sqrt(shots)
    assert abs(got - want) <= K_SIGMA * sigma, (got, want, sigma)
    assert abs(got - want) > 0  # sampled, not computed exactly


# ------------------------------------------------------------------ 5. batched = unbatched for the gate set
def _gate_cases():
    """Every parametric gate of PennyLane's gate set (and templates) with a batched first angle."""
    fixed = {"wires3": [0, 1, 2]}
    cases = {
        "RX": lambda a: qml.RX(a, 0),
        "RY": lambda a: qml.RY(a, 0),
        "RZ": lambda a: qml.RZ(a, 0),
        "PhaseShift": lambda a: qml.PhaseShift(a, 0),
        "U1": lambda a: qml.U1(a, 0),
        "U2": lambda a: qml.U2(a, 0.3, 0),
        "U3": lambda a: qml.U3(a, 0.3, -0.2, 0),
        "Rot": lambda a: qml.Rot(a, 0.3, -0.2, 0),
        "MultiRZ": lambda a: qml.MultiRZ(a, fixed["wires3"]),
        "PCPhase": lambda a: qml.PCPhase(a, 2, [0, 1]),
        "PauliRot": lambda a: qml.PauliRot(a, "XYZ", fixed["wires3"]),
        "IsingXX": lambda a: qml.IsingXX(a, [0, 1]),
        "IsingYY": lambda a: qml.IsingYY(a, [0, 1]),
        "IsingZZ": lambda a: qml.IsingZZ(a, [0, 1]),
        "IsingXY": lambda a: qml.IsingXY(a, [0, 1]),
        "PSWAP": lambda a: qml.PSWAP(a, [0, 1]),
        "CRX": lambda a: qml.CRX(a, [0, 1]),
        "CRY": lambda a: qml.CRY(a, [0, 1]),
        "CRZ": lambda a: qml.CRZ(a, [0, 1]),
        "CRot": lambda a: qml.CRot(a, 0.3, -0.2, [0, 1]),
        "CPhase": lambda a: qml.CPhase(a, [0, 1]),
        "CPhaseShift00": lambda a: qml.CPhaseShift00(a, [0, 1]),
        "CPhaseShift01": lambda a: qml.CPhaseShift01(a, [0, 1]),
        "CPhaseShift10": lambda a: qml.CPhaseShift10(a, [0, 1]),
        "SingleExcitation": lambda a: qml.SingleExcitation(a, [0, 1]),
        "SingleExcitationMinus": lambda a: qml.SingleExcitationMinus(a, [0, 1]),
        "SingleExcitationPlus": lambda a: qml.SingleExcitationPlus(a, [0, 1]),
        "FermionicSWAP": lambda a: qml.FermionicSWAP(a, [0, 1]),
        "GlobalPhase": lambda a: qml.GlobalPhase(a, 0),
        "OrbitalRotation": lambda a: qml.OrbitalRotation(a, [0, 1, 2, 3]),
        "DoubleExcitation": lambda a: qml.DoubleExcitation(a, [0, 1, 2, 3]),
        "AngleEmbedding": lambda a: qml.AngleEmbedding(qml.math.stack([a, 2 * a], -1), [0, 1]),
        "IQPEmbedding": lambda a: qml.IQPEmbedding(qml.math.stack([a, 0.5 * a, -a], -1), [0, 1, 2]),
        "adjoint(RX)": lambda a: qml.adjoint(qml.RX(a, 0)),
        "ctrl(RY)": lambda a: qml.ctrl(qml.RY(a, 1), 0),
    }
    return cases


GATES = _gate_cases()


def _gate_circuit(name):
    def f(inputs):
        qml.Hadamard(0)
        qml.Hadamard(1)
        qml.RY(0.4, 2)
        qml.PauliX(3)
        qml.RX(0.5 * inputs[..., 0], 3)  # a second use of the input (PennyLane's parameter-shift crashes when a
        GATES[name](inputs[..., 0])  # tape's only trainable angle is a GlobalPhase: an upstream bug, not routed)
        return [
            qml.expval(qml.PauliZ(0) @ qml.PauliX(1)),
            qml.expval(qml.PauliY(1)),
            qml.expval(qml.PauliZ(2)),
            qml.expval(qml.PauliX(3) @ qml.PauliY(0)),
        ]

    return f


@pytest.mark.parametrize("profile", ["default", "lightning", "aer-stock", "aer"])
@pytest.mark.parametrize("gate", list(GATES))
def test_batched_trainable_inputs_equal_unbatched_calls(profile, gate):
    """``broadcast_expand`` kept a stale batch size for MultiRZ and PCPhase (wrong values or shapes); the
    bridge's split rebuilds every operator, and its values and input gradients equal one call per sample."""
    qnode = make_qnode(_gate_circuit(gate), profile, 4)
    x = torch.tensor([[0.3], [1.2], [-0.7]], dtype=torch.float64, requires_grad=True)
    y = torch.stack(qnode(x), -1)
    (gx,) = torch.autograd.grad(y.sum(), x)
    for b in range(3):
        xb = x[b].detach().clone().requires_grad_(True)
        yb = torch.stack(qnode(xb), -1)
        (gb,) = torch.autograd.grad(yb.sum(), xb)
        torch.testing.assert_close(y[b].detach(), yb.detach(), atol=EXACT, rtol=0)
        torch.testing.assert_close(gx[b], gb, atol=EXACT, rtol=0)


@pytest.mark.parametrize("profile", ["default", "lightning", "aer-stock"])
def test_multirz_batch_through_a_layer(profile):
    """The reported case: a QuantumLayer through MultiRZ gave zeros (default) or repeated values (lightning)."""

    def qfunc(inputs):
        qml.Hadamard(0)
        qml.MultiRZ(inputs[..., 0], wires=[0, 1])
        return qml.expval(qml.PauliX(0)), qml.expval(qml.PauliZ(1))

    layer = QuantumLayer(qfunc, weight_shapes={}, n_wires=2, n_inputs=1, profile=profile)
    x = torch.tensor([[0.1], [0.5], [1.0], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(
        layer(x), torch.stack([torch.cos(x[:, 0]), torch.ones(4, dtype=torch.float64)], -1), atol=1e-7, rtol=0
    )


# ------------------------------------------------------------------ 6. layers from QNodes and functions, pickled
def _probs_and_expval(inputs, weights):
    qml.AngleEmbedding(inputs, wires=range(2))
    qml.BasicEntanglerLayers(weights, wires=range(2))
    return qml.probs(wires=[0, 1]), qml.expval(qml.PauliZ(1))


def test_a_layer_from_a_users_qnode_keeps_its_device_diff_method_and_shots():
    dev = qml.device("bridge.qiskit", wires=2, profile="aer")
    qnode = qml.set_shots(qml.QNode(_probs_and_expval, dev, diff_method="parameter-shift"), shots=500)
    layer = QuantumLayer(qnode, weight_shapes={"weights": (1, 2)})
    with qml.Tracker(dev) as tracker:
        y = layer(torch.rand(3, 2))
    assert y.shape == (3, 5) and layer.n_outputs == 5 and layer.n_inputs == 2
    assert tracker.totals["circuit_shots"] == 500 * tracker.totals["pub_rows"]  # the QNode's shots, every circuit
    torch.testing.assert_close(y[:, :4].sum(-1), torch.ones(3), atol=1e-6, rtol=0)
    with pytest.raises(InputError, match="a QNode brings its own device"):
        QuantumLayer(qnode, weight_shapes={"weights": (1, 2)}, profile="aer")


def test_a_layer_from_a_quantum_function_infers_its_outputs():
    layer = QuantumLayer(
        _probs_and_expval, weight_shapes={"weights": (1, 2)}, n_wires=2, n_inputs=2, profile="default"
    ).double()
    assert layer.n_outputs == 5
    x = torch.rand(4, 2, dtype=torch.float64)
    want = qml.QNode(_probs_and_expval, qml.device("default.qubit", wires=2))(x, layer.qlayer.weights)
    torch.testing.assert_close(layer(x), torch.cat([want[0], want[1][:, None]], -1), atol=EXACT, rtol=0)


def _tuple_output(inputs):
    qml.RY(inputs[..., 0], 0)
    return qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliX(0))


def test_a_tuple_of_measurements_is_not_scrambled():
    """TorchLayer stacks a tuple on a new first axis; the layer's contract is (batch, outputs) in order."""
    layer = QuantumLayer(_tuple_output, weight_shapes={}, n_wires=1, profile="default")
    x = torch.tensor([[0.2], [0.9], [1.5]], dtype=torch.float64)
    torch.testing.assert_close(layer(x), torch.stack([torch.cos(x[:, 0]), torch.sin(x[:, 0])], -1), atol=1e-7, rtol=0)


class _Model(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.linear = torch.nn.Linear(3, layer.n_inputs)
        self.quantum = layer

    def forward(self, x):
        return self.quantum(self.linear(x))


@pytest.mark.parametrize("profile", ["default", "lightning", "aer", "aer-shots"])
def test_a_whole_model_round_trips_through_torch_save_and_deepcopy(profile):
    """PennyLane #2204: a model holding a QuantumLayer now pickles (the layer is rebuilt from its recipe)."""
    model = _Model(QuantumLayer(circuits.angle_entangling(2, 1), profile=profile))
    x = torch.rand(4, 3)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    copied = copy.deepcopy(model)
    y = model(x)  # after the copies: a shot-based device's sampler starts where a fresh one would
    for other in (loaded, copied):
        torch.testing.assert_close(other(x), y, atol=0, rtol=0)
        assert dict(other.named_parameters()).keys() == dict(model.named_parameters()).keys()
        assert all(p.data_ptr() != q.data_ptr() for p, q in zip(other.parameters(), model.parameters(), strict=True))
    loss = copied(x).sum()
    loss.backward()
    assert copied.quantum.qlayer.weights.grad is not None and model.quantum.qlayer.weights.grad is None


def test_the_state_dict_stays_the_recommended_format_and_loads_as_data():
    model = _Model(QuantumLayer(circuits.angle_entangling(2, 1), profile="aer"))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = _Model(QuantumLayer(circuits.angle_entangling(2, 1), profile="aer"))
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.rand(2, 3)
    torch.testing.assert_close(fresh(x), model(x), atol=0, rtol=0)


def test_unpickling_draws_no_random_numbers():
    model = _Model(QuantumLayer(circuits.angle_entangling(2, 1), profile="aer"))
    state = torch.get_rng_state()
    copy.deepcopy(model)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_float64_layer_stays_float64_after_a_round_trip():
    layer = QuantumLayer(circuits.angle_entangling(2, 1), profile="default").double()
    assert copy.deepcopy(layer).qlayer.weights.dtype == torch.float64


@pytest.mark.parametrize("measurement", [lambda: qml.sample(wires=0), lambda: qml.state()], ids=["sample", "state"])
def test_measurements_a_layer_cannot_output_are_named(measurement):
    def qfunc(inputs):
        qml.RX(inputs[..., 0], 0)
        return measurement()

    with pytest.raises(InputError, match="outputs expectation values, variances and probabilities"):
        QuantumLayer(qfunc, weight_shapes={}, n_wires=1, n_inputs=1, profile="default")


def _two_expvals(inputs, weights):
    qml.AngleEmbedding(inputs, wires=range(2))
    qml.BasicEntanglerLayers(weights, wires=range(2))
    return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1)), qml.expval(qml.PauliX(1))


def test_a_users_torch_layer_on_bridge_qiskit_equals_default_qubit():
    """The user's own path, no QuantumLayer: qml.qnn.TorchLayer over a QNode on bridge.qiskit."""
    dev = qml.device("bridge.qiskit", wires=2, profile="aer")
    layer = qml.qnn.TorchLayer(qml.QNode(_two_expvals, dev), {"weights": (1, 2)}).double()
    ref = qml.qnn.TorchLayer(
        qml.QNode(_two_expvals, qml.device("default.qubit", wires=2)), {"weights": (1, 2)}
    ).double()
    ref.load_state_dict(layer.state_dict())
    x = torch.rand(3, 2, dtype=torch.float64)
    torch.testing.assert_close(layer(x), ref(x), atol=EXACT, rtol=0)
    assert np.all(np.isfinite(layer(x).detach().numpy()))
