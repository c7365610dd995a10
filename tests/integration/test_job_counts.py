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
SUBMITTED_BY = {
    "aer": "AerSimulator.run",
    "aer-shots": "aer SamplerV2.run",
    "aer-noisy": "aer SamplerV2.run",
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
def test_one_training_step_is_two_primitive_jobs_counted_at_the_backend(calls, profile, batch):
    """Forward, then every shifted row of the backward pass: 4 qubits, 4 inputs, 24 weights."""
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=profile)
    dev = layer.qlayer.qnode.device
    x = torch.rand(batch, 4, requires_grad=True)
    calls.clear()
    with qml.Tracker(dev) as tracker:
        layer(x).sum().backward()
    submitted = calls[SUBMITTED_BY[profile]]
    assert submitted == 2
    assert tracker.totals["primitive_jobs"] == submitted
    if profile in ("aer-shots", "aer-noisy"):  # Aer's SamplerV2 runs each job as one simulator run here
        assert calls["AerSimulator.run"] == 2
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_an_evaluation_pass_is_one_job(calls):
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer-shots")
    with torch.no_grad():
        layer(torch.rand(16, 4))
    assert calls["aer SamplerV2.run"] == 1 and calls["AerSimulator.run"] == 1
