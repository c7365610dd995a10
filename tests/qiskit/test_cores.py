"""The cores a device's Aer runs use (``bridge.qiskit.cores``): torchrun's local ranks get disjoint shares, the
share reaches Aer (spied at ``AerSimulator.run``), a profile's ``[qiskit] threads`` replaces it, and the number of
threads changes no value (exact: bit for bit here; shots: the same seed, the same counts)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from qiskit_aer import AerSimulator

from bridge import QuantumLayer, circuits, load_profile
from bridge.exceptions import ProfileError
from bridge.profiles import parse_profile
from bridge.qiskit.cores import available_cores, core_share, thread_budget


@pytest.mark.parametrize("cores", [list(range(8)), [0, 3, 5, 9, 12], [4]])
@pytest.mark.parametrize("ranks", [1, 2, 3, 8])
def test_local_ranks_share_the_cores_disjointly(cores, ranks):
    shares = [core_share({"LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": str(ranks)}, cores) for r in range(ranks)]
    assert all(shares)  # every rank gets at least one core
    if ranks <= len(cores):
        assert sorted(c for share in shares for c in share) == cores  # disjoint, and together all of them
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_the_budget_is_the_share_unless_threads_are_given():
    assert thread_budget(None, {}) == len(available_cores())
    assert thread_budget(3, {"LOCAL_WORLD_SIZE": "64"}) == 3
    assert thread_budget(None, {"LOCAL_WORLD_SIZE": "not a number"}) == len(available_cores())


@pytest.fixture
def aer_options(monkeypatch) -> list[dict]:
    seen: list[dict] = []
    original = AerSimulator.run

    def spy(self, circuits, **kwargs):
        seen.append({**{k: self.options.get(k) for k in ("max_parallel_threads",)}, **kwargs})
        return original(self, circuits, **kwargs)

    monkeypatch.setattr(AerSimulator, "run", spy)
    return seen


def _step(profile) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=profile)
    x = torch.linspace(0.1, 2.0, 64 * 4, dtype=torch.float64).reshape(64, 4)
    out = layer(x)
    (grad,) = torch.autograd.grad(out.sum(), [p for p in layer.parameters()])
    return out.detach(), grad


@pytest.mark.parametrize("profile", ["aer", "aer-shots", "aer-noisy"])
def test_the_budget_reaches_aer_and_changes_no_value(profile, aer_options, worker_aer_runs, monkeypatch):
    """One core: every run in this process on one thread. All cores: the exact jobs' rows (3,648 here) in one
    worker process per core, one thread each (counted at the workers' Aer), the rest here on all cores."""
    base = load_profile(profile)
    one = dataclasses.replace(base, qiskit=dataclasses.replace(base.qiskit, threads=1))
    out_1, grad_1 = _step(one)
    assert aer_options and all(o["max_parallel_threads"] == 1 for o in aer_options)
    assert worker_aer_runs.runs() == []
    aer_options.clear()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    out_all, grad_all = _step(base)
    cores = len(available_cores())
    runs = worker_aer_runs.runs()
    if profile != "aer-noisy" and cores > 1:
        assert len({r["pid"] for r in runs}) == cores and all(r["threads"] == 1 for r in runs)
    else:
        assert runs == [] and aer_options
    assert all(o["max_parallel_threads"] == cores for o in aer_options)
    if base.exact:
        np.testing.assert_allclose(out_all, out_1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(grad_all, grad_1, rtol=0, atol=1e-12)
    else:  # the same seed, the same shots whatever the threads
        assert torch.equal(out_all, out_1) and torch.equal(grad_all, grad_1)


HEAD = 'description = "d"\ndevice = "bridge.qiskit"\ndiff_method = "device"\n'


def test_a_profile_s_threads_must_be_a_positive_integer():
    for bad in ("0", '"all"', "-2"):
        with pytest.raises(ProfileError, match="threads"):
            parse_profile(HEAD + f"[qiskit]\nthreads = {bad}\n", name="bad")
    assert parse_profile(HEAD + "[qiskit]\nthreads = 3\n", name="ok").qiskit.threads == 3


def test_torchrun_ranks_report_disjoint_shares(tmp_path):
    """A real two-process torchrun: each rank's device sends its own share's size to Aer; the shares are disjoint."""
    script = tmp_path / "ranks.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os
            import bridge
            from bridge.qiskit.cores import core_share
            device = bridge.device("aer", 2)
            print(json.dumps({"rank": int(os.environ["RANK"]), "share": core_share(),
                              "threads": device._runner.threads, "workers": device._runner.workers}))
            """
        )
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run([*torchrun, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    a, b = (set(r["share"]) for r in ranks)
    cores = available_cores()
    assert a and b and (not a & b if len(cores) >= 2 else a == b)
    assert all(r["threads"] == r["workers"] == len(r["share"]) for r in ranks)  # worker processes: the share's
