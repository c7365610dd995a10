"""``train --tracking``: the logs read back with the trackers' own readers (TensorBoard's event reader, MLflow's
client on a real local store), a resumed run continuing the same logs, and a missing package named."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bridge.app import validate
from bridge.app.cli import main
from tests.support.runs import metrics, one_line, train_args

ALL = ["--tracking", "csv", "--tracking", "tensorboard", "--tracking", "mlflow"]
STEPS = 200  # mnist01: 200 training images, batch size 1


def _csv_steps(out: Path, name: str) -> list[int]:
    with (out / "metrics.csv").open(newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row["name"] == name]


def _tensorboard(out: Path, name: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(name)]


def _mlflow(out: Path) -> tuple[MlflowClient, object]:
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlruns' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("qml-bridge").experiment_id])
    return client, run


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tracked") / "run"
    assert main(train_args(out, *ALL)) == 0
    return out


def test_every_tracker_has_the_loss_of_every_step(one_epoch):
    out = one_epoch
    assert _csv_steps(out, "train/batch_loss") == list(range(1, STEPS + 1))
    board = _tensorboard(out, "train/batch_loss")
    assert [step for step, _ in board] == list(range(1, STEPS + 1))
    client, run = _mlflow(out)
    history = client.get_metric_history(run.info.run_id, "train/batch_loss")
    assert sorted(m.step for m in history) == list(range(1, STEPS + 1))
    # the same numbers everywhere, and their mean is the epoch's training loss in metrics.json
    by_step = {m.step: m.value for m in history}
    assert all(by_step[step] == pytest.approx(value, rel=1e-6) for step, value in board)
    assert sum(by_step.values()) / STEPS == pytest.approx(metrics(out)["train_loss"][0], rel=1e-9)


def test_the_run_s_settings_counts_test_metrics_and_files_are_logged(one_epoch):
    out = one_epoch
    client, run = _mlflow(out)
    assert run.info.status == "FINISHED"
    assert run.data.params["run.example"] == "mnist01" and run.data.params["profile.name"] == "aer"
    written = metrics(out)
    assert run.data.metrics["test/accuracy"] == pytest.approx(written["test_accuracy"])
    jobs = client.get_metric_history(run.info.run_id, "execution/primitive_jobs")
    assert max(m.value for m in jobs) == written["execution"]["primitive_jobs"] - 4  # the test set's 4 jobs later
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "checkpoint.pt", "loss.png", "predictions.png"} <= artifacts
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"loss", "predictions"} <= set(events.Tags()["images"])
    assert "run/text_summary" in events.Tags()["tensors"]


def test_a_resumed_run_continues_the_same_logs(tmp_path):
    """Two epochs in two runs (the second resumes the first's checkpoint): one MLflow run, each step once."""
    out = tmp_path / "run"
    assert main(train_args(out, *ALL)) == 0
    first = _mlflow(out)[1].info.run_id
    assert main(["train", "mnist01", "--epochs", "2", "--no-progress", "--out", str(out), "--resume", *ALL]) == 0
    client, run = _mlflow(out)
    assert run.info.run_id == first and run.info.status == "FINISHED"
    steps = sorted(m.step for m in client.get_metric_history(first, "train/batch_loss"))
    assert steps == list(range(1, 2 * STEPS + 1))
    assert _csv_steps(out, "train/batch_loss") == list(range(1, 2 * STEPS + 1))
    assert [step for step, _ in _tensorboard(out, "train/batch_loss")] == list(range(1, 2 * STEPS + 1))
    assert [m.step for m in client.get_metric_history(first, "epoch/train_loss")] == [STEPS, 2 * STEPS]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{" + b" " * 5000 + b"}", "larger than 4096 bytes"),
        (b"\xff\xfe not json", "not valid JSON"),
        (b'{"mlflow_run_id": "../../etc"}', "holds no MLflow run id"),
        (b"[1, 2]", "holds no MLflow run id"),
        (None, "a symbolic link"),
    ],
    ids=["too-large", "not-json", "bad-id", "not-an-object", "symlink"],
)
def test_a_resume_refuses_a_tampered_run_id_file(one_epoch, tmp_path, capsys, content, problem):
    """``OUT/tracking.json`` is untrusted: bounded, a regular file, a JSON object with a 32-hex-digit run id;
    anything else is exit 2 naming the file, before a step is trained or an MLflow run touched."""
    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    state = out / "tracking.json"
    state.unlink()
    if content is None:
        (tmp_path / "elsewhere.json").write_text('{"mlflow_run_id": "%s"}' % ("0" * 32))
        state.symlink_to(tmp_path / "elsewhere.json")
    else:
        state.write_bytes(content)
    before = (out / "mlruns" / "mlflow.db").read_bytes()
    args = ["train", "mnist01", "--epochs", "2", "--no-progress", "--out", str(out), "--resume", *ALL]
    assert main(args) == 2
    line = one_line(capsys.readouterr().err)
    assert str(state) in line and problem in line and ("remove" in line or "choose another --out" in line)
    assert (out / "mlruns" / "mlflow.db").read_bytes() == before


def test_a_missing_tracker_package_is_exit_2_naming_the_extra(tmp_path, monkeypatch, capsys):
    """No local stand-in for an absent package: the import lookup says it is not there."""
    real = validate.importlib.util.find_spec
    monkeypatch.setattr(validate.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name))
    with pytest.raises(SystemExit) as exit_:
        main(train_args(tmp_path / "run", "--tracking", "mlflow"))
    assert exit_.value.code == 2
    line = one_line(capsys.readouterr().err, prefix="qml-bridge train: error: argument --tracking")
    assert 'pip install "qml-bridge[tracking]"' in line
    assert not (tmp_path / "run").exists()


def test_examples_outside_the_training_loop_refuse_tracking(tmp_path, capsys):
    assert main(["train", "hello", "--out", str(tmp_path / "run"), "--tracking", "csv"]) == 2
    assert "drop --tracking" in one_line(capsys.readouterr().err)
