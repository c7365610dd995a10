"""A checkpoint's size, bounded before ``torch.load`` reads a byte of it: a compression bomb is refused unread."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bridge.app.checkpoint_checks.basics import FIX, MiB
from bridge.exceptions import BridgeError

GROWTH = 4  # a checkpoint holds the model's state, Adam's two moments of it, and room for one more copy
MARGIN = 16 * MiB  # RNG states (5 kB each rank), history, the pickle itself


def state_bytes(value: Any) -> int:
    """Bytes of the tensors in a (nested) state dict."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(state_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(state_bytes(v) for v in value)
    return 0


def size_bound(modules: Mapping[str, Any]) -> int:
    """The most bytes a checkpoint of a run with these modules can hold, unpacked: :data:`GROWTH` times their
    state (models, optimizers, schedulers as they are now) plus :data:`MARGIN`."""
    return GROWTH * sum(state_bytes(m.state_dict()) for m in modules.values()) + MARGIN


def check_archive(path: Path, bound: int, where: str) -> None:
    """Refuse a checkpoint that is not ``torch.save``'s zip archive, or whose size on disk or unpacked (the sum of
    its entries' sizes) is beyond ``bound``: read nothing of such a file.

    Raises:
        BridgeError: naming the checkpoint, its size and the bound.
    """
    limit = f"the {bound / MiB:.1f} MiB at most a checkpoint of this run holds"
    size = path.stat().st_size
    if size > bound:
        raise BridgeError(f"{where} is {size / MiB:.1f} MiB on disk, more than {limit}; it is not loaded; {FIX}")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise BridgeError(
            f"{where} is not a zip archive (torch.save's format since PyTorch 1.6: {e}); a legacy or foreign "
            f"file is not loaded; {FIX}"
        ) from e
    if unpacked > bound:
        raise BridgeError(
            f"{where} unpacks to {unpacked / MiB:.1f} MiB ({size / MiB:.1f} MiB on disk), more than {limit} "
            f"({GROWTH} × its state + {MARGIN // MiB} MiB); it is not loaded; {FIX}"
        )
