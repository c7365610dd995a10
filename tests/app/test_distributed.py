"""Training under torchrun (DistributedDataParallel, gloo): real subprocesses, real ranks, a real killed rank."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from bridge.app.cli import main
from bridge.app.distributed import rank_seed

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
TRAIN = ["-m", "bridge", "train", "mnist01", "--epochs", "1", "--checkpoint-every", "10", "--no-progress"]
TRACKED = ["--tracking", "csv", "--tracking", "mlflow"]  # the killed run and its resumption log; rank 0 alone


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=True)["modules"]["model"]


def test_two_ranks_train_the_weights_of_one_process_with_twice_the_batch(tmp_path):
    """mnist10's network (no dropout), 80 images, one epoch, exact aer: 2 ranks × batch 4 against 1 × batch 8."""
    script = str(ROOT / "tests/support/fit_small.py")
    one = _run([sys.executable, script, str(tmp_path / "one"), "8"])
    two = _run([*TORCHRUN, script, str(tmp_path / "two"), "4"])
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-6, f"largest weight difference {worst:.2e}"
    m1, m2 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two"))
    assert m1["world_size"] == 1 and m2["world_size"] == 2
    assert m2["train_loss"] == pytest.approx(m1["train_loss"], rel=1e-6)
    per_rank = m2["execution_per_rank"]
    assert len(per_rank) == 2 and all(r["primitive_jobs"] >= 10 for r in per_rank)  # 10 steps each, own jobs
    assert m2["execution"] == {k: per_rank[0][k] + per_rank[1][k] for k in per_rank[0]}
    # rank 0 alone evaluates the 20 test images (one batch of 20 → one job): it sent one job more than rank 1
    assert per_rank[0]["primitive_jobs"] == per_rank[1]["primitive_jobs"] + 1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("uninterrupted")
    done = _run([*TORCHRUN, *TRAIN, "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A 2-rank run whose rank 1 is SIGKILLed right after the first checkpoint (step 10 of 100)."""
    out = tmp_path_factory.mktemp("killed")
    run = subprocess.Popen(
        [*TORCHRUN, *TRAIN, *TRACKED, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.poll() is None, "the run ended before its first checkpoint"
    victims = [c for c in psutil.Process(run.pid).children(recursive=True) if c.environ().get("RANK") == "1"]
    assert len(victims) == 1
    victims[0].send_signal(signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=240)
    return out, subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)


def test_a_killed_rank_stops_the_run_cleanly(killed):
    out, run = killed
    assert run.returncode != 0
    assert not (out / "metrics.json").exists()
    assert "another process of this torchrun run stopped" in run.stderr
    assert "rerun the same torchrun command with --resume" in run.stderr
    assert "[rank0]: Traceback" not in run.stderr  # the surviving rank explains itself in one line


def test_resuming_a_killed_run_gives_the_uninterrupted_metrics(killed, uninterrupted):
    out, _ = killed
    resumed = _run([*TORCHRUN, *TRAIN, *TRACKED, "--out", str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    differing = {k for k in uninterrupted if metrics.get(k) != uninterrupted[k]}
    assert differing == {"seconds"}, {k: (metrics.get(k), uninterrupted[k]) for k in differing}
    assert metrics["world_size"] == 2 and len(metrics["execution_per_rank"]) == 2
    # the logs: one MLflow run, continued; every one of the 100 steps logged once, by rank 0 alone
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlruns' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("qml-bridge").experiment_id])
    assert run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/batch_loss")]
    assert sorted(steps) == list(range(1, 101))
    lines = (out / "metrics.csv").read_text().splitlines()[1:]
    assert sorted(int(line.split(",")[0]) for line in lines if ",train/batch_loss," in line) == list(range(1, 101))


def test_resuming_with_another_world_size_is_refused(killed, capsys):
    out, _ = killed
    assert main(["train", "mnist01", "--epochs", "1", "--no-progress", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "written by a run on 2 process(es), this one has 1" in err and "--nproc-per-node 2" in err


@pytest.mark.parametrize("name", ["hello", "qaoa", "meta"])
def test_single_process_examples_refuse_torchrun(name, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", name, "--out", str(tmp_path)]) == 2
    assert "run it without torchrun" in capsys.readouterr().err


def test_each_rank_seeds_its_own_simulator():
    seeds = [rank_seed(1234, r) for r in range(8)]
    assert seeds[0] == 1234 and len(set(seeds)) == 8
    assert rank_seed(1234, 3) == rank_seed(1234, 3) and rank_seed(1234, 3) != rank_seed(1235, 3)


def test_dry_run_previews_every_rank_and_the_total(capsys):
    assert main(["train", "mnist01", "--device", "ibm", "--epochs", "2", "--dry-run", "--nproc", "2"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0].strip(): line.split()[-3:] for line in out.splitlines()[2:8]}

    def counts(label: str) -> list[int]:
        (values,) = [v for k, v in rows.items() if k.startswith(label)]
        return [int(x.replace(",", "")) for x in values]

    step, epoch, evaluation = counts("one step"), counts("one epoch"), counts("test evaluation")
    rank0, rank1, total = counts("rank 0"), counts("rank 1"), counts("all 2 ranks")
    assert step == [1, 3, 3 * 1024] and epoch == [100, 300, 300 * 1024]  # 200 images, 100 per rank, batch 1
    assert rank1 == [2 * e for e in epoch] and rank0 == [r + v for r, v in zip(rank1, evaluation, strict=True)]
    assert total == [a + b for a, b in zip(rank0, rank1, strict=True)]


def test_nproc_without_dry_run_names_torchrun(capsys, tmp_path):
    # its own --out: the README's main job leaves runs/mnist01 in the checkout the tests then run in
    assert main(["train", "mnist01", "--nproc", "2", "--out", str(tmp_path / "o")]) == 2
    assert "torchrun --nproc-per-node N" in capsys.readouterr().err


# ------------------------------------------------------------------ GPUs
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the profiles must work, not refuse")
@pytest.mark.parametrize(
    ("profile", "said"), [("aer-gpu", "Aer offers CPU only"), ("lightning-gpu", "no usable CUDA GPU")]
)
def test_gpu_profiles_refuse_a_machine_without_a_gpu(profile, said, capsys, tmp_path):
    assert main(["train", "mnist01", "--device", profile, "--epochs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert said in err and ("use profile 'aer'" in err or "Use profile 'lightning'" in err)


def _gpu_profile_missing(profile: str) -> str | None:
    """Why a GPU profile cannot run on this GPU machine (its optional package is not installed), or ``None``."""
    if profile == "aer-gpu":
        from qiskit_aer import AerSimulator

        return None if "GPU" in AerSimulator().available_devices() else "qiskit-aer-gpu is not installed"
    if profile == "lightning-gpu":
        import importlib.util

        return (
            None if importlib.util.find_spec("pennylane_lightning.lightning_gpu_ops") else "no pennylane-lightning-gpu"
        )
    return None


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@CUDA
@pytest.mark.parametrize("profile", ["aer", "default", "aer-shots", "aer-gpu", "lightning-gpu"])
def test_a_hybrid_model_trains_on_cuda(profile):
    """TextbookHybridNet.to("cuda"): outputs and gradients on the GPU, with and without gradients, and the values
    of the same model on the CPU (float32)."""
    missing = _gpu_profile_missing(profile)
    if missing:
        pytest.skip(missing)
    from bridge.app.models import TextbookHybridNet
    from bridge.profiles import load_profile

    torch.manual_seed(0)
    cpu = TextbookHybridNet(load_profile(profile)).eval()  # no dropout: the same function on both devices
    model = TextbookHybridNet(load_profile(profile)).eval().to("cuda")
    model.load_state_dict(cpu.state_dict())
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 1, 0])
    out = model(images.cuda())
    assert out.device.type == "cuda"
    torch.nn.functional.nll_loss(out, labels.cuda()).backward()
    assert all(p.grad is not None and p.grad.device.type == "cuda" for p in model.parameters())
    with torch.no_grad():
        evaluated = model(images.cuda())
    assert evaluated.device.type == "cuda"
    if load_profile(profile).exact:
        expected = cpu(images).detach()
        torch.testing.assert_close(out.detach().cpu(), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(evaluated.cpu(), expected, atol=1e-5, rtol=0)


@CUDA
def test_a_run_on_the_gpu_trains_the_weights_of_the_same_run_on_the_cpu(tmp_path):
    """fit_small (mnist10's network, 80 images, exact aer) with --torch-device cuda against cpu."""
    script = str(ROOT / "tests/support/fit_small.py")
    runs = {d: _run([sys.executable, script, str(tmp_path / d), "8", "aer", d]) for d in ("cpu", "cuda")}
    for done in runs.values():
        assert done.returncode == 0, done.stderr[-2000:]
    a, b = _weights(tmp_path / "cpu"), _weights(tmp_path / "cuda")
    worst = max(float((a[k] - b[k].cpu()).abs().max()) for k in a)
    print(f"largest weight difference cpu vs cuda: {worst:.2e}")
    assert worst <= 1e-4, f"largest weight difference {worst:.2e}"
    assert json.loads((tmp_path / "cuda" / "metrics.json").read_text())["torch_device"] == "cuda"


@CUDA
def test_a_gpu_run_resumes_to_the_uninterrupted_result(tmp_path):
    """mnist01 (dropout, drawn by the GPU's generator) for 2 epochs, against 1 epoch then --resume for the second:
    the checkpoint carries the GPU's RNG state."""
    base = [sys.executable, "-m", "bridge", "train", "mnist01", "--torch-device", "cuda", "--no-progress"]
    whole = _run([*base, "--epochs", "2", "--out", str(tmp_path / "whole")])
    first = _run([*base, "--epochs", "1", "--out", str(tmp_path / "parts")])
    assert whole.returncode == 0 and first.returncode == 0, whole.stderr[-2000:] + first.stderr[-2000:]
    assert torch.load(tmp_path / "parts" / "checkpoint.pt", weights_only=True)["cuda_rng"] is not None
    second = _run([*base, "--epochs", "2", "--resume", "--out", str(tmp_path / "parts")])
    assert second.returncode == 0, second.stderr[-2000:]
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("whole", "parts"))
    assert a["torch_device"] == "cuda" and a["train_loss"] == b["train_loss"]
    assert a["test_accuracy"] == b["test_accuracy"]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs a GPU per rank: 2 GPUs")
def test_two_ranks_on_two_gpus_train_the_weights_of_one_process_with_twice_the_batch(tmp_path):
    """The CPU equivalence test with --torch-device cuda: NCCL all-reduces the gradients."""
    script = str(ROOT / "tests/support/fit_small.py")
    one = _run([sys.executable, script, str(tmp_path / "one"), "8", "aer", "cuda"])
    two = _run([*TORCHRUN, script, str(tmp_path / "two"), "4", "aer", "cuda"])
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5


@pytest.mark.skipif(torch.cuda.device_count() != 1, reason="one GPU: two ranks cannot each have their own")
def test_two_ranks_sharing_one_gpu_are_refused_before_nccl_starts():
    done = _run([*TORCHRUN, *TRAIN, "--torch-device", "cuda", "--out", "/tmp/qml-bridge-two-on-one-gpu"])
    assert done.returncode != 0
    assert done.stderr.count("process(es) with LOCAL_RANK") == 2  # each rank, in one line
    assert "2 process(es) with LOCAL_RANK 1 share this machine's 1 GPU(s)" in done.stderr
    assert str(ROOT / "bridge") not in done.stderr  # no traceback through the bridge (torchrun prints its own)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_torch_device_cuda_is_refused_on_a_machine_without_a_gpu(capsys, tmp_path):
    assert main(["train", "mnist01", "--torch-device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--torch-device cuda: no usable CUDA GPU" in capsys.readouterr().err


def test_torch_device_is_refused_where_no_network_is_trained(capsys, tmp_path):
    assert main(["train", "hello", "--torch-device", "cuda", "--out", str(tmp_path)]) == 2
    assert "hello trains outside the shared training loop, on the CPU; drop --torch-device" in capsys.readouterr().err


def test_the_readable_example_script_runs_under_torchrun():
    done = _run([*TORCHRUN, str(ROOT / "tests/support/example_ddp.py")])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("test accuracy") == 1 and "rank 0's share" in done.stdout  # rank 0 alone prints
