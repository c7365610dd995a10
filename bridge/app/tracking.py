"""Experiment tracking of a training run: a CSV file, TensorBoard event files, an MLflow run.

``qml-bridge train … --tracking csv --tracking tensorboard --tracking mlflow`` (any of them, several at once)
logs, at every optimizer step, the batch loss, the learning rate, the primitive jobs, PUB rows and shots so far
and the seconds so far; at every epoch's end the epoch's training loss (and accuracy); at the end the test
metrics, and the run's files (``metrics.json``, the figures, the checkpoint) where the tracker keeps files.

- ``csv``: ``OUT/metrics.csv`` with columns ``step, name, value``.
- ``tensorboard``: event files under ``OUT/tensorboard`` (scalars, the settings and profile as text, the figures
  as images); read them with ``tensorboard --logdir OUT/tensorboard``.
- ``mlflow``: one MLflow run (params, metrics with steps, artifacts) on ``$MLFLOW_TRACKING_URI`` when it is set,
  else a local SQLite store with its artifacts under ``OUT/mlruns`` (``mlflow ui --backend-store-uri
  sqlite:///OUT/mlruns/mlflow.db``); the experiment is ``$MLFLOW_EXPERIMENT_NAME``, else ``qml-bridge``.

A resumed run continues the same logs: the CSV and TensorBoard drop what was logged after the checkpoint's step
(so a step is never logged twice), MLflow continues the run whose id ``OUT/tracking.json`` keeps. Under torchrun
rank 0 alone logs. TensorBoard and MLflow are the ``tracking`` extra: ``pip install "qml-bridge[tracking]"``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from bridge.app.checkpoints import write_json
from bridge.app.run_folder import check_regular
from bridge.app.validate import check_tracking_available
from bridge.exceptions import DataError

STATE = "tracking.json"  # the MLflow run id, so that --resume continues the same run
STATE_MAX_BYTES = 4096  # the file holds a run id and a tracking URI; anything larger is not ours
RUN_ID = re.compile(r"[0-9a-f]{32}")  # MLflow's run ids: uuid4().hex


def read_run_id(state: Path) -> str | None:
    """The MLflow run id an earlier run of this folder kept in ``state`` (``OUT/tracking.json``), or ``None`` when
    there is no such file. The file is untrusted: at most :data:`STATE_MAX_BYTES`, a regular file, a JSON object
    whose ``mlflow_run_id`` is 32 hexadecimal digits.

    Raises:
        DataError: naming the file, what is wrong with it, and the fix.
    """
    check_regular(state)
    try:
        with state.open("rb") as f:
            raw = f.read(STATE_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    fix = f"remove {state} to start a new MLflow run, or resume with the file the earlier run wrote"
    if len(raw) > STATE_MAX_BYTES:
        raise DataError(f"{state} is larger than {STATE_MAX_BYTES} bytes, so not the run id qml-bridge wrote; {fix}")
    try:
        content = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{state} is not valid JSON ({e}); {fix}") from None
    run_id = content.get("mlflow_run_id") if isinstance(content, dict) else None
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise DataError(f'{state} holds no MLflow run id (32 hexadecimal digits under "mlflow_run_id"); {fix}')
    return run_id


class Writer(Protocol):
    """One tracker: scalars at a step, the settings once, files at the end."""

    def settings(self, settings: Mapping[str, Any]) -> None: ...

    def scalars(self, step: int, values: Mapping[str, float]) -> None: ...

    def files(self, paths: list[Path]) -> None: ...

    def flush(self) -> None: ...

    def close(self, status: str) -> None: ...


class CsvWriter:
    """``OUT/metrics.csv``: one ``step, name, value`` line per scalar, flushed as it is written."""

    def __init__(self, out: Path, resume_step: int | None) -> None:
        self.path = out / "metrics.csv"
        kept: list[list[str]] = []
        if resume_step is not None and self.path.is_file():
            with self.path.open(newline="") as f:
                kept = [row for row in list(csv.reader(f))[1:] if len(row) == 3 and int(row[0]) <= resume_step]
        self._file = self.path.open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerows([["step", "name", "value"], *kept])
        self._file.flush()

    def settings(self, settings: Mapping[str, Any]) -> None:
        pass  # metrics.json records them

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        self._csv.writerows([step, name, repr(float(value))] for name, value in values.items())
        self._file.flush()

    def files(self, paths: list[Path]) -> None:
        pass  # they are in OUT already

    def flush(self) -> None:
        pass  # every line is flushed as it is written

    def close(self, status: str) -> None:
        self._file.close()


class TensorBoardWriter:
    """Event files under ``OUT/tensorboard``; a resumed run purges the events after its checkpoint's step."""

    def __init__(self, out: Path, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        purge = None if resume_step is None else resume_step + 1
        self._writer = SummaryWriter(log_dir=str(out / "tensorboard"), purge_step=purge)
        self._last = resume_step or 0

    def settings(self, settings: Mapping[str, Any]) -> None:
        for name, value in settings.items():
            self._writer.add_text(name, f"```\n{json.dumps(value, indent=2, default=str)}\n```", 0)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            self._writer.add_scalar(name, float(value), step)
        self._last = max(self._last, step)

    def files(self, paths: list[Path]) -> None:
        import matplotlib.image

        for path in paths:
            if path.suffix == ".png":
                self._writer.add_image(path.stem, matplotlib.image.imread(path), self._last, dataformats="HWC")

    def flush(self) -> None:
        self._writer.flush()

    def close(self, status: str) -> None:
        self._writer.close()


class MlflowWriter:
    """One MLflow run, continued by a resumed run (its id in ``OUT/tracking.json``).

    Metrics are sent in batches: at every checkpoint (so a resumed run logs no step twice), at the end, and when
    :data:`BATCH` are waiting (one call per step cost 0.25 s on SQLite, more than a training step).
    """

    BATCH = 1000  # MLflow's limit of metrics per log_batch call

    def __init__(self, out: Path, resume_step: int | None, run_name: str) -> None:
        from mlflow.tracking import MlflowClient

        store = out / "mlruns"
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            store.mkdir(exist_ok=True)
            uri = f"sqlite:///{(store / 'mlflow.db').resolve()}"
        self._client = MlflowClient(tracking_uri=uri)
        self._waiting: list[Any] = []
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "qml-bridge"
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:  # a local store keeps its artifacts inside OUT too
            location = None if os.environ.get("MLFLOW_TRACKING_URI") else (store / "artifacts").resolve().as_uri()
            experiment_id = self._client.create_experiment(name, artifact_location=location)
        state = out / STATE
        earlier = read_run_id(state) if resume_step is not None else None
        if earlier:
            self.run_id = str(earlier)
            self._client.update_run(self.run_id, status="RUNNING")
            self._fresh = False
        else:
            self.run_id = self._client.create_run(experiment_id, run_name=run_name).info.run_id
            self._fresh = True
            write_json({"mlflow_run_id": self.run_id, "tracking_uri": uri}, state)

    def settings(self, settings: Mapping[str, Any]) -> None:
        if not self._fresh:  # MLflow params are immutable; the resumed run has them
            return
        from mlflow.entities import Param

        flat = _flatten(settings)
        self._client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in flat.items()])

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._waiting += [Metric(k, float(v), now, step) for k, v in values.items() if math.isfinite(float(v))]
        if len(self._waiting) >= self.BATCH:
            self.flush()

    def files(self, paths: list[Path]) -> None:
        self.flush()
        for path in paths:
            self._client.log_artifact(self.run_id, str(path))

    def flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.BATCH], self._waiting[self.BATCH :]
            self._client.log_batch(self.run_id, metrics=batch)

    def close(self, status: str) -> None:
        if status == "FINISHED":
            self.flush()
        # else what waits was logged after the last checkpoint: the resumed run logs those steps again
        self._client.set_terminated(self.run_id, status=status)


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"profile": {"shots": 1024}}`` → ``{"profile.shots": 1024}``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Tracking:
    """The trackers a run asked for, written to together; a run with none costs nothing.

    Args:
        kinds: names from :data:`~bridge.app.validate.TRACKING_KINDS` (duplicates ignored).
        out: the run's output folder (already claimed).
        resume_step: the global optimizer step of the checkpoint a resumed run continues from; ``None`` for a
            fresh run.
        run_name: the MLflow run's name.
    """

    def __init__(self, kinds: Iterable[str], out: Path, resume_step: int | None, run_name: str) -> None:
        chosen = list(dict.fromkeys(kinds))
        check_tracking_available(chosen)
        self._writers: list[Writer] = []
        for kind in chosen:
            if kind == "csv":
                self._writers.append(CsvWriter(out, resume_step))
            elif kind == "tensorboard":
                self._writers.append(TensorBoardWriter(out, resume_step))
            else:
                self._writers.append(MlflowWriter(out, resume_step, run_name))

    def __bool__(self) -> bool:
        return bool(self._writers)

    def settings(self, settings: Mapping[str, Any]) -> None:
        """The run's settings and its resolved profile (params in MLflow, text in TensorBoard)."""
        for writer in self._writers:
            writer.settings(settings)

    def scalars(self, step: int, values: Mapping[str, float | int | None]) -> None:
        """Numbers at global optimizer ``step`` (``None`` values are skipped)."""
        kept = {k: float(v) for k, v in values.items() if v is not None}
        for writer in self._writers:
            writer.scalars(step, kept)

    def files(self, paths: list[Path]) -> None:
        """The run's files: artifacts in MLflow, PNG figures as TensorBoard images."""
        present = [p for p in paths if p.is_file()]
        for writer in self._writers:
            writer.files(present)

    def flush(self) -> None:
        """Send what is waiting (called at every checkpoint)."""
        for writer in self._writers:
            writer.flush()

    def close(self, status: str = "FINISHED") -> None:
        """End every tracker: ``FINISHED``, or ``KILLED`` (interrupted) / ``FAILED``."""
        for writer in self._writers:
            writer.close(status)
