"""Helpers shared by the tests that run the CLI or the training loop: one error line, a run's metrics, a small task,
the command line of a short training run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any


def one_line(err: str, *, prefix: str | None = None) -> str:
    """The one non-blank line of ``err`` (a CLI error: no traceback), checked to start with ``prefix`` if given."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err, err
    if prefix is not None:
        assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def metrics(out: Path) -> dict[str, Any]:
    """The ``metrics.json`` a run wrote into ``out``."""
    return json.loads((Path(out) / "metrics.json").read_text())


def small_task(name: str = "mnist01", per_class: int = 3) -> Any:
    """An image task of the registry on ``per_class`` training and test images per class."""
    from bridge.app.registry import get_task

    return dataclasses.replace(get_task(name), train_per_class=per_class, test_per_class=per_class)


def train_args(out: Path, *extra: str, example: str = "mnist01") -> list[str]:
    """``qml-bridge train EXAMPLE`` for one epoch without a progress bar into ``out``, then ``extra``."""
    return ["train", example, "--epochs", "1", "--no-progress", "--out", str(out), *extra]
