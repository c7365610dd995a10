"""Atomic checkpoint files: written to a temporary file in the same folder, flushed, then renamed."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from bridge.exceptions import BridgeError


def _write_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with ``torch.save`` so that ``path`` is either the old or the new file, never half."""
    _write_atomic(path, lambda f: torch.save(state, f))


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    _write_atomic(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises:
        BridgeError: the file does not exist or cannot be read.
    """
    if not path.is_file():
        raise BridgeError(f"no checkpoint at {path} to resume from; run without --resume first")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise BridgeError(f"checkpoint {path} cannot be read ({e}); delete it and start again") from e
