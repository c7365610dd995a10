"""Every shipped profile builds its real backend: exactness of exact profiles, shot statistics, noise, IBM."""

from __future__ import annotations

import math

import pennylane as qml
import pytest
import torch

import bridge.ibm
from bridge import QuantumLayer, circuits, device, load_profile
from bridge.exceptions import CredentialsError, ProfileError

K_SIGMA = 5.0  # statistical tolerance: 5 standard deviations of the shot-noise estimate


def _values_and_grads(profile, spec=None, batch=3, seed=11):
    spec = spec or circuits.angle_entangling(4, 2)
    torch.manual_seed(seed)
    layer = QuantumLayer(spec, profile=profile).double()
    x = torch.rand(batch, spec.n_inputs, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    y[:, 0].sum().backward()
    weights = dict(layer.qlayer.named_parameters())
    return y.detach(), x.grad.detach(), weights["weights"].grad.detach() if weights else None


@pytest.mark.parametrize("profile", ["aer", "aer-stock", "lightning"])
def test_exact_profiles_equal_default_qubit(profile):
    expected = _values_and_grads("default")
    for got, want in zip(_values_and_grads(profile), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("profile", ["aer", "aer-stock"])
def test_aer_exact_is_really_exact_whatever_the_seed(profile):
    """No silent 1024-shot fallback: two simulator seeds give identical, analytically correct values."""
    a = _values_and_grads(load_profile(profile).with_seed(1), circuits.textbook_hry(), batch=4)
    b = _values_and_grads(load_profile(profile).with_seed(2), circuits.textbook_hry(), batch=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    torch.manual_seed(11)
    layer_input = torch.rand(4, 1, dtype=torch.float64)
    torch.testing.assert_close(a[0], -torch.sin(layer_input), atol=1e-12, rtol=0)
    torch.testing.assert_close(a[1], -torch.cos(layer_input), atol=1e-12, rtol=0)


def test_aer_shots_within_shot_noise_of_exact_and_seeded():
    shots = load_profile("aer-shots").shots
    exact_y, exact_dx, exact_dw = _values_and_grads("default", batch=4)
    y, dx, dw = _values_and_grads("aer-shots", batch=4)
    y2, dx2, dw2 = _values_and_grads("aer-shots", batch=4)
    assert torch.equal(y, y2) and torch.equal(dx, dx2) and torch.equal(dw, dw2)  # seeded simulator
    assert not torch.equal(y, exact_y)  # it really samples
    sigma_value = torch.sqrt((1 - exact_y**2).clamp_min(1e-12) / shots)
    assert ((y - exact_y).abs() <= K_SIGMA * sigma_value + 1e-12).all()
    # d<Z_0>/dx for one sample: a two-term shift rule, sigma <= sqrt(1 / (2 shots))
    assert ((dx - exact_dx).abs() <= K_SIGMA * math.sqrt(1 / (2 * shots))).all()
    # d(sum over the batch of <Z_0>)/dw: 4 independent two-term estimates
    assert ((dw - exact_dw).abs() <= K_SIGMA * math.sqrt(4 / (2 * shots))).all()


def test_aer_noisy_uses_the_fake_backend_and_routes_a_ring():
    dev = device("aer-noisy", wires=4)
    backend = dev.backend
    assert backend.options.noise_model is not None and not backend.options.noise_model.is_ideal()
    manila_edges = {tuple(e) for e in backend.coupling_map.get_edges()}
    assert manila_edges == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)}
    # a ring of CNOTs (3 -> 0 is not an edge) must be routed, and runs reproducibly with the seed
    y, dx, dw = _values_and_grads("aer-noisy", batch=1)
    y2, _, _ = _values_and_grads("aer-noisy", batch=1)
    assert torch.equal(y, y2)
    assert torch.isfinite(dx).all() and torch.isfinite(dw).all() and (y.abs() <= 1).all()


def test_noisy_wires_must_fit_the_fake_backend():
    with pytest.raises(ProfileError, match="6 wires do not fit on FakeManilaV2 \\(5 qubits\\)"):
        device("aer-noisy", wires=6)


def test_unknown_fake_backend(tmp_path):
    path = tmp_path / "noisy.toml"
    path.write_text('description="x"\ndevice="qiskit.remote"\nshots=100\n[qiskit]\nnoise_backend="FakeNowhere"\n')
    with pytest.raises(ProfileError, match="unknown fake IBM backend 'FakeNowhere'.*FakeManilaV2"):
        device(str(path), wires=1)


def test_ibm_without_credentials_fails_with_the_configuration_message(no_ibm_credentials):
    with pytest.raises(CredentialsError, match=r"(?s)QISKIT_IBM_TOKEN=.*save_account"):
        bridge.ibm.check_credentials()
    with pytest.raises(CredentialsError, match=r"No IBM Quantum credentials found"):
        device("ibm", wires=1)


class _RecordingService:
    """Stands in for QiskitRuntimeService (no network here) and serves a real local fake backend."""

    calls: list[dict] = []

    def __init__(self, **kwargs):
        _RecordingService.calls.append(kwargs)

    def least_busy(self, **kwargs):
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        self.least_busy_kwargs = kwargs
        return FakeManilaV2()

    def backend(self, name):
        from qiskit.providers.exceptions import QiskitBackendNotFoundError

        raise QiskitBackendNotFoundError(f"No backend matches the criteria: {name}")

    def backends(self):
        from qiskit_ibm_runtime.fake_provider import FakeBrisbane, FakeManilaV2

        return [FakeManilaV2(), FakeBrisbane()]


def test_ibm_with_token_builds_a_remote_device_up_to_the_network(monkeypatch, no_ibm_credentials):
    import qiskit_ibm_runtime

    probed = []
    monkeypatch.setattr(bridge.ibm, "check_reachable", lambda url, timeout: probed.append((url, timeout)))
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "secret-token")
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:instance")
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", _RecordingService)
    _RecordingService.calls.clear()
    bridge.ibm.check_credentials()  # a token is enough
    dev = device("ibm", wires=1)
    assert _RecordingService.calls == [
        {"channel": "ibm_quantum_platform", "token": "secret-token", "instance": "crn:v1:instance"}
    ]
    assert dev.name == "bridge.qiskit" and dev.backend.name == "fake_manila"
    assert probed == [("https://cloud.ibm.com", 5.0)]  # the endpoints are probed first, with the profile's timeout
    qnode = qml.set_shots(qml.QNode(circuits.textbook_hry().qfunc, dev), shots=2000)
    (z,) = qnode(torch.tensor([0.0]))
    assert abs(float(z)) <= K_SIGMA / math.sqrt(2000) + 0.1  # H|0>: <Z> = 0 up to shots and Manila's noise


def test_ibm_unknown_backend_name_lists_the_available_ones(monkeypatch, no_ibm_credentials, tmp_path):
    import qiskit_ibm_runtime

    monkeypatch.setenv("QISKIT_IBM_TOKEN", "secret-token")
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", _RecordingService)
    monkeypatch.setattr(bridge.ibm, "check_reachable", lambda url, timeout: None)
    path = tmp_path / "ibm-named.toml"
    path.write_text('description="x"\ndevice="qiskit.remote"\nshots=100\n[ibm]\nbackend="ibm_nowhere"\n')
    with pytest.raises(
        ProfileError, match="'ibm_nowhere' is not available to this account; available: fake_manila, fake_brisbane"
    ):
        device(str(path), wires=1)
