"""The output folder of a run: checked before anything is loaded or run, and held by one run at a time.

:func:`check_output_folder` refuses, with the fix, a ``--out`` that is a file, cannot be created or written, or
holds an earlier run's checkpoint (unless the run resumes it or overwrites it). :class:`RunLock` holds an
exclusive ``flock`` on ``OUT/.qml-bridge.lock`` while a run writes there; a second run into the same folder stops
at once naming the first one's PID. The lock is the kernel's: it is released when the holder exits, however it
exits, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from types import TracebackType

from bridge.exceptions import BridgeError
from bridge.validate import write_refused

LOCK_NAME = ".qml-bridge.lock"
CHECKPOINT_NAME = "checkpoint.pt"


def check_output_folder(out: Path, *, resume: bool = False, overwrite: bool = False) -> None:
    """Create ``out`` if needed and check that this run may write there.

    Args:
        out: the ``--out`` folder.
        resume: the run continues ``out/checkpoint.pt`` (it must exist; :mod:`bridge.checkpoints` checks it).
        overwrite: the run may replace an earlier run's checkpoint (it is deleted now, so a new run that stops
            before its first checkpoint cannot be resumed from the old one).

    Raises:
        BridgeError: ``out`` is a file, cannot be created, is not writable, or holds an earlier run's checkpoint
            without ``resume`` or ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise BridgeError(f"--out {out} is a file, not a folder; give a folder for the run's outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BridgeError(f"--out {out} cannot be created ({e.strerror or e}); choose another --out") from None
    reason = write_refused(out)
    if reason:
        raise BridgeError(f"--out {out} is not writable ({reason}); choose another --out")
    checkpoint = out / CHECKPOINT_NAME
    if checkpoint.exists() and not checkpoint.is_file():
        raise BridgeError(f"{checkpoint} is a folder, not a checkpoint file; remove it or choose another --out")
    if checkpoint.exists() and not resume:
        if not overwrite:
            raise BridgeError(
                f"--out {out} holds the checkpoint of an earlier run; continue it with --resume, start over with "
                "--overwrite, or choose another --out"
            )
        checkpoint.unlink()


def check_free_space(out: Path, needed: int) -> None:
    """Refuse a run whose checkpoint (``needed`` bytes, written beside the previous one) cannot fit on ``out``'s
    disk.

    Raises:
        BridgeError: with the sizes.
    """
    free = shutil.disk_usage(out).free
    if free < 2 * needed:
        raise BridgeError(
            f"--out {out} has {free / 2**20:,.1f} MiB free, but a checkpoint of this run needs about "
            f"{needed / 2**20:,.1f} MiB (twice while it is replaced atomically); free some space or choose "
            "another --out"
        )


class RunLock(contextlib.AbstractContextManager["RunLock"]):
    """An exclusive lock on ``out`` for the lifetime of a run (``with RunLock(out): ...``).

    Raises:
        BridgeError: on entry, when another run holds the folder (its PID named).
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BridgeError(
                f"another run (PID {holder}) is writing into --out {self.path.parent}; wait for it to finish or "
                "choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None
