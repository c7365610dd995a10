"""Atomic checkpoint files: written to a temporary file in the same folder, flushed, then renamed."""

from __future__ import annotations

import json
import os
import pickle
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
    """Load a checkpoint written by :func:`save_checkpoint`, as data only.

    The file is read with ``torch.load(..., weights_only=True)``: tensors, numbers, strings and containers
    of them, nothing that can run code. A checkpoint is a file people download and share; one that holds
    any other object (a pickled function, a class instance) is refused, and nothing in it is executed.

    Raises:
        BridgeError: the file does not exist, cannot be read, or holds something other than data.
    """
    if not path.is_file():
        raise BridgeError(f"no checkpoint at {path} to resume from; run without --resume first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = str(e).split("\n\n")[1].strip() if "\n\n" in str(e) else str(e)
        raise BridgeError(f"checkpoint {path} holds more than tensors and plain data ({detail}); it was not "
                          "written by qml-bridge and is not loaded, since loading it could run code. Delete it "
                          "or use another --out") from e
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise BridgeError(f"checkpoint {path} cannot be read ({e}); delete it and start again") from e
    if not isinstance(state, dict):
        raise BridgeError(f"checkpoint {path} holds a {type(state).__name__}, not a qml-bridge checkpoint "
                          "(a dictionary); delete it and start again")
    return state
