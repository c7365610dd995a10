"""Exact jobs in worker processes (``bridge.qiskit.workers``): values and seeded shots identical whatever the
number of workers, the rows counted at the workers' own ``AerSimulator.run`` (a spy started inside them), and a
worker that dies is an error naming it, never a hang."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import numpy as np
import pennylane as qml
import pytest
import torch

from bridge import QuantumLayer, circuits
from bridge.exceptions import ExecutionError
from bridge.profiles import load_profile, parse_profile
from bridge.qiskit.workers import MIN_ROWS

BATCH = 300  # ≥ MIN_ROWS rows in the forward job alone


def _qnode(profile: str, workers: int, returns: str):
    dev = qml.device("bridge.qiskit", wires=3, profile=profile, seed=7, workers=workers, threads=2)

    @qml.qnode(dev, diff_method="parameter-shift")
    def circuit(x, w):
        for i in range(3):
            qml.RY(x[..., i], wires=i)
        qml.CNOT([0, 1])
        qml.CNOT([1, 2])
        qml.RX(w[0], wires=0)
        qml.RZ(w[1], wires=2)
        qml.Hadamard(2)
        if returns == "probs":
            return qml.probs(wires=[0, 2])
        if returns == "state":
            return qml.state()
        return [qml.expval(qml.PauliZ(0) @ qml.PauliX(2)), qml.expval(qml.PauliY(1))]

    return circuit, dev


@pytest.mark.parametrize("returns", ["expval", "probs", "state"])
def test_two_workers_give_the_values_of_one_process(returns, worker_aer_runs):
    x = torch.rand(BATCH, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    w = torch.tensor([0.3, -1.1], dtype=torch.float64)
    outs = {}
    for workers in (1, 2):
        worker_aer_runs.clear()
        circuit, _ = _qnode("aer", workers, returns)
        out = circuit(x, w)
        outs[workers] = np.stack([np.asarray(o) for o in out], axis=-1) if isinstance(out, list) else np.asarray(out)
        runs = worker_aer_runs.runs()
        if workers == 1:
            assert runs == []
        else:  # both workers ran part of the rows, every row once
            assert len({r["pid"] for r in runs}) == 2 and sum(r["rows"] for r in runs) == BATCH
    np.testing.assert_allclose(outs[2], outs[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("profile", ["aer", "aer-shots"])
def test_a_training_step_is_the_same_on_two_workers(profile, worker_aer_runs):
    """W3 at batch 64 (3,648 rows in the step's one job): outputs, input and weight gradients; exact to 1e-12, and on
    aer-shots (shots drawn here from the workers' probabilities) the same seed gives the same numbers."""
    results = []
    for workers in (1, 2):
        torch.manual_seed(0)
        base = load_profile(profile)
        prof = dataclasses.replace(base, qiskit=dataclasses.replace(base.qiskit, workers=workers, threads=2))
        layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=prof).double()
        x = torch.linspace(0.1, 2.0, 64 * 4, dtype=torch.float64).reshape(64, 4).requires_grad_(True)
        worker_aer_runs.clear()
        out = layer(x)
        out.sum().backward()
        assert len({r["pid"] for r in worker_aer_runs.runs()}) == (0 if workers == 1 else 2)
        results.append((out.detach(), x.grad, layer.qlayer.weights.grad))
    for a, b in zip(*results, strict=True):
        if profile == "aer":
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
        else:
            assert torch.equal(a, b)


def test_a_small_job_stays_in_the_device_s_process(worker_aer_runs):
    x = torch.rand(MIN_ROWS // 2, 3, dtype=torch.float64)
    circuit, _ = _qnode("aer", 2, "expval")
    circuit(x, torch.zeros(2, dtype=torch.float64))
    assert worker_aer_runs.runs() == []


def test_a_worker_that_dies_is_an_error_naming_it_and_the_next_job_starts_new_ones(worker_aer_runs):
    x = torch.rand(BATCH, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    w = torch.tensor([0.3, -1.1], dtype=torch.float64)
    circuit, dev = _qnode("aer", 2, "expval")
    expected = np.asarray(circuit(x, w))
    pool = dev._runner.pool
    victim = pool.pids[1]
    os.kill(victim, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(ExecutionError, match=rf"worker 2 of 2 .*pid {victim}.*SIGKILL.*workers = 1"):
        circuit(x, w + 0.1)  # a new parameter set: not a cached result
    assert time.monotonic() - start < 30
    assert victim not in pool.pids
    np.testing.assert_allclose(np.asarray(circuit(x, w)), expected, rtol=0, atol=1e-12)
    assert len(set(pool.pids)) == 2 and victim not in pool.pids


@pytest.mark.parametrize("bad", ["0", "-1", '"all"', "1025"])
def test_a_profile_s_workers_must_be_a_positive_integer(bad):
    head = 'description = "d"\ndevice = "bridge.qiskit"\ndiff_method = "device"\n'
    from bridge.exceptions import ProfileError

    with pytest.raises(ProfileError, match="workers"):
        parse_profile(head + f"[qiskit]\nworkers = {bad}\n", name="bad")
    assert parse_profile(head + "[qiskit]\nworkers = 3\n", name="ok").qiskit.workers == 3
