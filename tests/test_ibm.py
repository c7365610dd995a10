"""IBM Runtime code paths, run for real in qiskit-ibm-runtime's local mode on fake IBM devices: execution
modes, option pass-through, the cost preview against a real run's job counter, retries, messages."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pennylane as qml
import pytest
import torch
from qiskit.providers import JobError
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from bridge import QuantumLayer, backends, circuits
from bridge.app.cost import preview_training
from bridge.app.train import TrainConfig, train_task
from bridge.exceptions import BridgeError, ProfileError, WiresError
from bridge.profiles import load_profile, parse_profile
from bridge.qiskit import QiskitBatchDevice

from support.runs import small_task as _small


def _fake_profile(mode="job", options=""):
    return parse_profile(
        'description = "t"\ndevice = "bridge.qiskit"\ndiff_method = "device"\nshots = 512\n'
        'seed = 3\n[qiskit]\nbackend = "fake"\nseed_transpiler = 1\nretry_backoff = 0.0\n'
        f'[ibm]\nbackend = "fake_manila"\nmode = "{mode}"\n{options}',
        name="fake",
    )


def _step(layer, batch=2):
    dev = layer.qlayer.qnode.device
    x = torch.rand(batch, layer.n_inputs, requires_grad=True)
    with qml.Tracker(dev) as tracker:
        layer(x).sum().backward()
    return tracker.totals, x.grad


@pytest.mark.parametrize(("mode", "kind"), [("job", FakeManilaV2), ("batch", Batch), ("session", Session)])
def test_each_execution_mode_runs_a_training_step_in_one_job(mode, kind):
    layer = QuantumLayer(circuits.angle_entangling(2, 1), profile=_fake_profile(mode))
    dev = layer.qlayer.qnode.device
    assert isinstance(dev.runtime_mode(), kind) and dev.runtime_mode() is dev.runtime_mode()
    totals, grad = _step(layer)
    assert totals["primitive_jobs"] == 1 and torch.isfinite(grad).all()
    primitive = dev._runner._estimator.factory(7)
    assert isinstance(primitive, EstimatorV2) and primitive.backend() is dev.backend
    assert primitive.mode is (None if mode == "job" else dev.runtime_mode())
    dev.close()


def test_runtime_options_reach_the_primitives():
    options = (
        "[ibm.options]\nresilience_level = 2\ndefault_shots = 333\n"
        'dynamical_decoupling = { enable = true, sequence_type = "XY4" }\ntwirling = { enable_gates = true }\n'
    )
    dev = QiskitBatchDevice(2, profile=_fake_profile(options=options))
    estimator = EstimatorV2(mode=dev.runtime_mode(), options=dev._runner.options(11, estimator=True))
    assert estimator.options.resilience_level == 2 and estimator.options.default_shots == 333
    assert estimator.options.dynamical_decoupling.sequence_type == "XY4" and estimator.options.twirling.enable_gates
    assert estimator.options.simulator.seed_simulator == 11  # local mode: each job's seed
    sampler = dev._runner._sampler_factory()(12)
    assert isinstance(sampler, SamplerV2) and sampler.options.dynamical_decoupling.enable
    assert sampler.options.default_shots == 333 and sampler.options.simulator.seed_simulator == 12
    assert not hasattr(sampler.options, "resilience_level")  # estimator-only options are left out


def test_invalid_runtime_options_are_a_profile_error():
    with pytest.raises(ProfileError, match=r"invalid \[ibm.options\] for the runtime EstimatorV2: .*resilience_level"):
        QiskitBatchDevice(2, profile=_fake_profile(options="[ibm.options]\nresilience_level = 7\n"))
    with pytest.raises(ProfileError, match=r"\[ibm\] mode 'sessions' is not one of job, batch, session"):
        _fake_profile(mode="sessions")


def test_mnist01_epoch_on_ibm_fake_manila_matches_the_dry_run_exactly(tmp_path):
    """Runtime primitives in local mode; two jobs per training step; the preview predicts every count."""
    config = TrainConfig(
        profile=load_profile("ibm-fake-manila"), epochs=1, seed=0, batch_size=2, out=tmp_path, progress=False
    )
    preview = preview_training(_small(), config)
    metrics = train_task(_small(), config)
    executed = metrics["execution"]
    assert (preview.total.jobs, preview.total.pub_rows, preview.total.shots) == (
        executed["primitive_jobs"],
        executed["pub_rows"],
        executed["circuit_shots"],
    )
    steps = preview.steps_per_epoch
    assert steps == 3 and preview.epoch.jobs == steps  # forward and backward fused: one job a step
    assert preview.step.pub_rows == 2 * (1 + 2) and preview.step.shots == preview.step.pub_rows * 1024
    assert executed["primitive_jobs"] == steps + 1  # and one for the 6 test images


def test_dry_run_of_ibm_needs_no_account_and_runs_nothing(no_ibm_credentials, capsys):
    from bridge.app.cli import main

    assert main(["train", "mnist01", "--device", "ibm", "--dry-run", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "no circuit was run" in out and "whole run (2 epochs + test)" in out and "QPU time" in out
    assert "      404" in out  # 2 × 200 step jobs (one each) + 4 evaluation jobs


def test_dry_run_refuses_profiles_without_jobs(capsys):
    from bridge.app.cli import main

    assert main(["train", "mnist01", "--device", "default", "--dry-run"]) == 2
    assert "--dry-run counts the primitive jobs of bridge.qiskit profiles" in capsys.readouterr().err


def _counter():
    """A call counter that survives the runtime's deep copies of the backend (a function is not copied)."""
    calls = []

    def count():
        calls.append(None)
        return len(calls)

    return count


class FlakyManila(FakeManilaV2):
    """The real fake Manila whose first ``failures`` calls of ``run`` fail as a dropped job would."""

    def __init__(self, failures):
        super().__init__()
        self.failures, self.count = failures, _counter()

    def run(self, circuits, **options):
        call = self.count()
        if call <= self.failures:
            raise JobError(f"injected: job {call} was dropped by the device")
        return super().run(circuits, **options)


def test_runtime_jobs_that_fail_first_are_retried(monkeypatch):
    flaky = FlakyManila(failures=2)
    monkeypatch.setattr(backends, "qiskit_backend", lambda prof, wires: flaky)
    layer = QuantumLayer(circuits.angle_entangling(2, 1), profile=_fake_profile())
    with qml.Tracker(layer.qlayer.qnode.device) as tracker:
        layer(torch.rand(2, 2)).sum().backward()
    assert tracker.totals["job_retries"] == 2 and tracker.totals["primitive_jobs"] == 1
    assert flaky.count() == 4  # 2 failed + 1 good call happened before this one


def test_a_circuit_wider_than_the_backend_is_a_user_error():
    with pytest.raises(WiresError, match=r"6 wires do not fit on backend fake_manila \(5 qubits\); use fewer"):
        QuantumLayer(circuits.angle_entangling(6, 1), profile="ibm-fake-manila")
    assert issubclass(WiresError, BridgeError)  # the CLI's exit 2; a device error, not a profile's


def test_fake_device_variants_by_name():
    noisy = load_profile("aer-noisy:brisbane")
    assert noisy.qiskit.noise_backend == "brisbane" and noisy.name == "aer-noisy:brisbane"
    assert "fake_brisbane" in backends.qiskit_backend(noisy, 2).name
    fake = load_profile("ibm-fake-manila:kyiv")
    assert backends.qiskit_backend(fake, 2).name == "fake_kyiv"
    with pytest.raises(ProfileError, match="has no fake IBM device to replace"):
        load_profile("aer:brisbane")


def _cli(*args):
    env = os.environ.copy()
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, env=env, timeout=300)


def test_unknown_fake_device_exits_2_without_traceback(tmp_path):
    result = _cli("train", "mnist01", "--device", "ibm-fake-manila:atlantis", "--epochs", "1", "--out", str(tmp_path))
    assert result.returncode == 2 and "unknown fake IBM backend 'atlantis'" in result.stderr
    assert "Traceback" not in result.stderr


class _ClosingSpy:
    """Counts closes of runtime Batches and Sessions (class-level, so every instance is seen)."""

    def __init__(self, monkeypatch):
        self.closed = []
        for kind in (Batch, Session):
            original = kind.close

            def close(mode, _original=original):
                self.closed.append(type(mode).__name__)
                return _original(mode)

            monkeypatch.setattr(kind, "close", close)


@pytest.mark.parametrize("mode", ["batch", "session"])
@pytest.mark.parametrize("ending", ["success", "failure", "interrupt"])
def test_training_closes_the_runtime_batch_or_session_it_opened(tmp_path, monkeypatch, mode, ending):
    spy = _ClosingSpy(monkeypatch)
    profile = _fake_profile(mode)
    profile = dataclasses.replace(profile, qiskit=dataclasses.replace(profile.qiskit, retries=0))
    if ending == "failure":
        monkeypatch.setattr(backends, "qiskit_backend", lambda prof, wires: FlakyManila(failures=10**6))
    if ending == "interrupt":
        from bridge.qiskit import QiskitBatchDevice

        original = QiskitBatchDevice.execute_and_compute_derivatives

        def interrupted(self, *args, **kwargs):
            original(self, *args, **kwargs)
            raise KeyboardInterrupt  # Ctrl-C a second time: at once, mid-step

        monkeypatch.setattr(QiskitBatchDevice, "execute_and_compute_derivatives", interrupted)
    config = TrainConfig(profile=profile, epochs=1, seed=0, batch_size=2, out=tmp_path, progress=False)
    expected = {"success": None, "failure": Exception, "interrupt": KeyboardInterrupt}[ending]
    if expected is None:
        train_task(_small(per_class=2), config)
    else:
        with pytest.raises(expected):
            train_task(_small(per_class=2), config)
    assert spy.closed == [mode.capitalize()]
