"""Primitive jobs counted where they reach Qiskit: spies on ``AerSimulator.run`` and on the ``run`` of Aer's and
qiskit-ibm-runtime's ``SamplerV2``/``EstimatorV2``, never the device's own counter (which is checked against them).
"""

from __future__ import annotations

from collections import Counter

import pennylane as qml
import pytest
import torch
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2 as AerSampler
from qiskit_ibm_runtime import EstimatorV2 as RuntimeEstimator
from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler

from bridge import QuantumLayer, circuits

SPIED = {
    "AerSimulator.run": (AerSimulator, "run"),
    "aer SamplerV2.run": (AerSampler, "run"),
    "runtime EstimatorV2.run": (RuntimeEstimator, "run"),
    "runtime SamplerV2.run": (RuntimeSampler, "run"),
}
# where each profile's primitive jobs are submitted
# where each profile's primitive jobs are submitted: Aer directly (exact values, probabilities the shots are drawn
# from, or the noisy simulator's counts); fake IBM devices through the runtime's primitives
SUBMITTED_BY = {
    "aer": "AerSimulator.run",
    "aer-shots": "AerSimulator.run",
    "aer-noisy": "AerSimulator.run",
    "ibm-fake-manila": "runtime EstimatorV2.run",
}


@pytest.fixture
def calls(monkeypatch):
    """Counts of every spied call (the real method still runs)."""
    counter: Counter[str] = Counter()
    for name, (cls, method) in SPIED.items():
        original = getattr(cls, method)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            counter[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, spy)
    return counter


@pytest.mark.parametrize("batch", [1, 16, 64])
@pytest.mark.parametrize("profile", list(SUBMITTED_BY))
def test_one_training_step_is_one_primitive_job_counted_at_the_backend(calls, profile, batch):
    """Forward and every shifted row of the backward pass in one job: 4 qubits, 4 inputs, 24 weights."""
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=profile)
    dev = layer.qlayer.qnode.device
    x = torch.rand(batch, 4, requires_grad=True)
    calls.clear()
    with qml.Tracker(dev) as tracker:
        layer(x).sum().backward()
    submitted = calls[SUBMITTED_BY[profile]]
    assert submitted == 1
    assert tracker.totals["primitive_jobs"] == submitted
    assert tracker.totals["pub_rows"] == batch * (1 + 2 * (4 + 24))  # every row: itself and 2 shifts per angle
    if profile.startswith("aer"):  # one Aer run per job
        assert calls["AerSimulator.run"] == 1
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("profile", list(SUBMITTED_BY))
def test_the_two_job_mode_stays_reachable(calls, profile, tmp_path):
    """[qiskit] fuse_gradient = false: forward, then the backward pass's own job; the same gradients on exact aer."""
    import dataclasses

    from bridge.profiles import load_profile

    base = load_profile(profile)
    two = dataclasses.replace(base, qiskit=dataclasses.replace(base.qiskit, fuse_gradient=False))
    x = torch.rand(3, 4)
    grads = []
    for prof in (base, two):
        torch.manual_seed(0)
        layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=prof).double()
        xx = x.double().clone().requires_grad_(True)
        calls.clear()
        (layer(xx) * torch.arange(1.0, 5.0, dtype=torch.float64)).sum().backward()
        assert calls[SUBMITTED_BY[profile]] == (1 if prof is base else 2)
        grads.append((xx.grad, layer.qlayer.weights.grad))
    if base.exact:  # fused and two-job modes give identical values and gradients (≤ 1e-12)
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_an_evaluation_pass_sends_no_shifted_row(calls):
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer-noisy")
    dev = layer.qlayer.qnode.device
    with torch.no_grad(), qml.Tracker(dev) as tracker:
        layer(torch.rand(16, 4))
    assert calls["AerSimulator.run"] == 1 and tracker.totals["primitive_jobs"] == 1
    assert tracker.totals["pub_rows"] == 16  # the forward rows only
