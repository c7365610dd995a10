"""Primitive jobs counted where they reach Qiskit: spies on ``AerSimulator.run`` (in this process and in the device's
worker processes) and on the ``run`` of Aer's and qiskit-ibm-runtime's ``SamplerV2``/``EstimatorV2``, never the
device's own counter (which is checked against them).
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
from bridge.qiskit.primitives import MAX_EXPERIMENTS_PER_RUN
from bridge.qiskit.stacking import rows_per_experiment
from bridge.qiskit.workers import MIN_ROWS

from support.aer_spy.aer_run_rows import rows_of_run, saves_of_run

SPIED = {
    "AerSimulator.run": (AerSimulator, "run"),
    "aer SamplerV2.run": (AerSampler, "run"),
    "runtime EstimatorV2.run": (RuntimeEstimator, "run"),
    "runtime SamplerV2.run": (RuntimeSampler, "run"),
}
# where each profile's primitive jobs are submitted: Aer directly (exact values, probabilities the shots are drawn
# from, or the noisy simulator's counts); fake IBM devices through the runtime's primitives
SUBMITTED_BY = {
    "aer": "AerSimulator.run",
    "aer-shots": "AerSimulator.run",
    "aer-noisy": "AerSimulator.run",
    "ibm-fake-manila": "runtime EstimatorV2.run",
}


class Calls(Counter):
    """Counts of the spied calls in this process; ``"AerSimulator.run"`` and ``"AerSimulator.run rows"`` include
    the worker processes' runs (``"... here"``: this process's alone)."""

    def __init__(self, workers) -> None:
        super().__init__()
        self.workers = workers

    def __getitem__(self, key: str) -> int:
        if key == "AerSimulator.run":
            return super().__getitem__(key) + len(self.workers.runs())
        if key == "AerSimulator.run rows":
            return super().__getitem__(key) + sum(run["rows"] for run in self.workers.runs())
        return super().__getitem__(key.removesuffix(" here"))

    def clear(self) -> None:
        super().clear()
        self.workers.clear()


@pytest.fixture
def calls(monkeypatch, worker_aer_runs):
    """Counts of every spied call (the real method still runs)."""
    counter = Calls(worker_aer_runs)
    for name, (cls, method) in SPIED.items():
        original = getattr(cls, method)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            counter[_name] += 1
            if kwargs.get("parameter_binds"):  # Aer: the parameter rows of the run
                counter[f"{_name} rows"] += rows_of_run(args[0], kwargs["parameter_binds"])
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, spy)
    return counter


@pytest.mark.parametrize("batch", [1, 16, 64, 256])
@pytest.mark.parametrize("profile", list(SUBMITTED_BY))
def test_one_training_step_is_one_primitive_job_counted_at_the_backend(calls, profile, batch):
    """Forward and every shifted row of the backward pass in one job: 4 qubits, 4 inputs, 24 weights."""
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=profile)
    dev = layer.qlayer.qnode.device
    x = torch.rand(batch, 4, requires_grad=True)
    calls.clear()
    with qml.Tracker(dev) as tracker:
        layer(x).sum().backward()
    rows = batch * (1 + 2 * (4 + 24))  # every row: itself and 2 shifts per angle
    assert tracker.totals["primitive_jobs"] == 1
    assert tracker.totals["pub_rows"] == rows
    workers = dev._runner.workers if profile in ("aer", "aer-shots") and rows >= MIN_ROWS else 1
    if workers > 1:  # the one job's rows reach the workers' Aer, split into whole stacked experiments: one run each
        k = rows_per_experiment(4, rows)
        runs = calls.workers.runs()
        assert calls["AerSimulator.run rows here"] == 0
        assert sum(run["rows"] for run in runs) == rows
        assert len(runs) == len({run["pid"] for run in runs}) == min(workers, -(-rows // k))
    elif profile.startswith("aer"):  # a local simulator's one job reaches Aer as runs of at most 4,096 experiments,
        # every row once
        assert calls["AerSimulator.run rows"] == rows
        per_run = MAX_EXPERIMENTS_PER_RUN * (1 if profile == "aer-noisy" else rows_per_experiment(4, rows))
        assert calls["AerSimulator.run"] == -(-rows // per_run)
    else:  # an IBM profile's: one primitive call
        assert calls[SUBMITTED_BY[profile]] == 1
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("batch", [4, 64])
def test_an_exact_step_runs_on_aer_what_a_sampled_step_runs(monkeypatch, worker_aer_runs, batch):
    """The exact path is never slower than the sampled one by construction: a W3 step on ``aer`` sends Aer the
    same runs as on ``aer-shots`` (whose shots the bridge draws from the ideal simulator's probabilities), the
    same rows and saved quantities, in this process (batch 4: 196 rows) and in the workers (batch 64: 3,136);
    the sampled path then draws its shots on top."""
    here: list[tuple[int, list[str]]] = []
    original = AerSimulator.run

    def spy(self, circuits, **kwargs):
        here.append((rows_of_run(circuits, kwargs.get("parameter_binds")), saves_of_run(circuits)))
        return original(self, circuits, **kwargs)

    monkeypatch.setattr(AerSimulator, "run", spy)
    sent = {}
    for profile in ("aer", "aer-shots"):
        here.clear()
        worker_aer_runs.clear()
        layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=profile)
        layer(torch.rand(batch, 4, generator=torch.Generator().manual_seed(0))).sum().backward()
        sent[profile] = (sorted(here), sorted((run["rows"], run["saves"]) for run in worker_aer_runs.runs()))
    rows = batch * (1 + 2 * 24)  # weights only: every row and 2 shifts per weight
    in_workers = rows >= MIN_ROWS and layer.qlayer.qnode.device._runner.workers > 1
    assert sent["aer"] == sent["aer-shots"]
    assert sum(r for r, _ in sent["aer"][1 if in_workers else 0]) == rows
    assert not sent["aer"][0 if in_workers else 1]
    assert {tuple(saves) for _, saves in sent["aer"][0] + sent["aer"][1]} == {("save_probabilities",)}


@pytest.mark.parametrize("profile", list(SUBMITTED_BY))
def test_the_two_job_mode_stays_reachable(calls, profile):
    """[qiskit] fuse_gradient = false: forward, then the backward pass's own job with the shifted rows alone.

    Two training steps in each mode from the same seeds: on exact ``aer`` the same values and gradients
    (≤ 1e-12); on ``aer-shots``, whose shots the bridge draws from one generator per tape, the same numbers.
    On the noisy simulator and fake IBM devices the primitive draws the shots with one seed per job, so the
    two modes give different draws of the same distribution (tests/qiskit/test_shot_statistics.py)."""
    import dataclasses

    from bridge.profiles import load_profile

    base = load_profile(profile)
    two = dataclasses.replace(base, qiskit=dataclasses.replace(base.qiskit, fuse_gradient=False))
    x = torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(1))
    runs = []
    for prof in (base, two):
        torch.manual_seed(0)
        layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=prof).double()
        seen = []
        for step in range(2):
            xx = x[step].double().clone().requires_grad_(True)
            calls.clear()
            out = layer(xx)
            (out * torch.arange(1.0, 5.0, dtype=torch.float64)).sum().backward()
            assert calls[SUBMITTED_BY[profile]] == (1 if prof is base else 2)
            if profile != "ibm-fake-manila":  # every row reaches Aer once: 3 forward rows + 3 × 56 shifted rows
                assert calls["AerSimulator.run rows"] == 3 + 3 * 56
            seen += [out.detach(), xx.grad, layer.qlayer.weights.grad.clone()]
        runs.append(seen)
    if profile in ("aer", "aer-shots"):
        for a, b in zip(*runs, strict=True):
            torch.testing.assert_close(a, b, atol=1e-12 if base.exact else 0, rtol=0)


def test_an_evaluation_pass_sends_no_shifted_row(calls):
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer-noisy")
    dev = layer.qlayer.qnode.device
    with torch.no_grad(), qml.Tracker(dev) as tracker:
        layer(torch.rand(16, 4))
    assert calls["AerSimulator.run"] == 1 and tracker.totals["primitive_jobs"] == 1
    assert tracker.totals["pub_rows"] == 16  # the forward rows only


def test_both_modes_draw_the_same_shots_for_several_tapes_of_one_batch(calls):
    """Two tapes of one structure share a PUB (their rows stacked), a third of another structure has its own;
    with a variance, whose derivative needs the forward ⟨O⟩: the same numbers in both modes on aer-shots."""
    import dataclasses

    from bridge.profiles import load_profile

    base = load_profile("aer-shots")
    two = dataclasses.replace(base, qiskit=dataclasses.replace(base.qiskit, fuse_gradient=False))
    results = []
    for prof in (base, two):
        dev = qml.device("bridge.qiskit", wires=2, profile=prof)
        w = torch.tensor([0.3, -0.8, 1.1], dtype=torch.float64, requires_grad=True)
        with qml.queuing.AnnotatedQueue() as q1:
            qml.RX(w[0], 0), qml.CNOT([0, 1]), qml.RY(w[1], 1)
            qml.expval(qml.PauliZ(0) @ qml.PauliZ(1)), qml.var(qml.PauliX(1))
        with qml.queuing.AnnotatedQueue() as q2:
            qml.RX(w[1], 0), qml.CNOT([0, 1]), qml.RY(w[2], 1)
            qml.expval(qml.PauliZ(0) @ qml.PauliZ(1)), qml.var(qml.PauliX(1))
        with qml.queuing.AnnotatedQueue() as q3:
            qml.RY(w[2], 1), qml.CRX(w[0], [1, 0])
            qml.probs(wires=[0, 1])
        tapes = [qml.tape.QuantumScript.from_queue(q, shots=1024) for q in (q1, q2, q3)]
        calls.clear()
        out = qml.execute(tapes, dev, diff_method="device")
        total = sum(torch.stack(list(o)).sum() if isinstance(o, tuple) else (o * torch.arange(4.0)).sum() for o in out)
        total.backward()
        assert calls["AerSimulator.run"] == (1 if prof is base else 2)
        results.append([*(torch.stack(list(o)) if isinstance(o, tuple) else o for o in out), w.grad])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert results[0][-1].abs().sum() > 0
