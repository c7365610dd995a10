"""The output folder of a run: checked before anything is loaded or run, and held by one run at a time.

:func:`check_output_folder` refuses, with the fix, a ``--out`` that is a file, cannot be created or written, holds
a run file that is a symlink, FIFO or device, or holds an earlier run's checkpoint (unless the run resumes it or
overwrites it); it changes nothing there. Every file a run writes in ``--out`` goes through :func:`write_atomic`
(temporary file, rename; symlinks refused, never followed). ``--overwrite`` moves an earlier run's files aside
(:func:`set_aside_earlier_run`) only once the new run holds the lock, so it never touches a running run's files.
:class:`RunLock` holds an
exclusive ``flock`` on ``OUT/.qml-bridge.lock`` while a run writes there; a second run into the same folder stops
at once naming the first one's PID. The lock is the kernel's: it is released when the holder exits, however it
exits, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from bridge.app.validate import write_refused
from bridge.exceptions import BridgeError

LOCK_NAME = ".qml-bridge.lock"
CHECKPOINT_NAME = "checkpoint.pt"
RUN_FILES = (LOCK_NAME, CHECKPOINT_NAME, "metrics.json", "loss.png", "predictions.png")  # all a run writes in --out
EARLIER_PREFIX = "earlier-run-"  # --overwrite moves an earlier run's files into OUT/earlier-run-<time>/


def check_output_folder(out: Path, *, resume: bool = False, overwrite: bool = False) -> None:
    """Check that this run may write into ``out``, changing nothing: a folder that does not exist yet is not
    created (:class:`FolderClaim` creates it, once every other check has passed).

    Args:
        out: the ``--out`` folder.
        resume: the run continues ``out/checkpoint.pt`` (it must exist; :mod:`bridge.app.checkpoints` checks it).
        overwrite: the run may start over where an earlier run left a checkpoint.

    Raises:
        BridgeError: ``out`` is a file, cannot be created, is not writable, holds a run file that is not a regular
            file (a symlink, FIFO, device or folder, named), or holds an earlier run's checkpoint without
            ``resume`` or ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise BridgeError(f"--out {out} is a file, not a folder; give a folder for the run's outputs")
    if not out.exists():
        existing = next(p for p in [out.parent, *out.parents] if p.exists() or p == Path(p.anchor))
        reason = write_refused(existing) if existing.is_dir() else f"{existing} is a file"
        if reason:
            raise BridgeError(f"--out {out} cannot be created ({reason}); choose another --out")
        return
    reason = write_refused(out)
    if reason:
        raise BridgeError(f"--out {out} is not writable ({reason}); choose another --out")
    for name in RUN_FILES:
        check_regular(out / name)
    checkpoint = out / CHECKPOINT_NAME
    if checkpoint.exists() and not resume and not overwrite:
        raise BridgeError(
            f"--out {out} holds the checkpoint of an earlier run; continue it with --resume, start over with "
            "--overwrite, or choose another --out"
        )


class FolderClaim:
    """The moment a run starts writing into ``out``: called once every option, the profile, the data and the
    model have been checked (:func:`bridge.app.train.output_folder` calls it), so a run refused for any of those
    leaves ``out`` as it was. It creates ``out``, checks it again, takes :class:`RunLock` (held until ``stack``
    closes) and only then, with ``overwrite``, moves an earlier run's files aside.

    Args:
        out: the ``--out`` folder.
        stack: where the lock is held (the CLI's ``ExitStack`` around the run).
        resume: the run continues ``out/checkpoint.pt``.
        overwrite: move an earlier run's files into ``out/earlier-run-<time>/``.
        announce: printed once the folder is held (the CLI's "running …" line).
    """

    def __init__(
        self, out: Path, stack: contextlib.ExitStack, *, resume: bool, overwrite: bool, announce: str = ""
    ) -> None:
        self.out, self.stack, self.resume, self.overwrite, self.announce = out, stack, resume, overwrite, announce
        self.claimed = False

    def __call__(self) -> Path:
        """Create, check, lock and (with ``overwrite``) clear ``out``; returns it. Later calls return ``out``."""
        if self.claimed:
            return self.out
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BridgeError(f"--out {self.out} cannot be created ({e.strerror or e}); choose another --out") from None
        check_output_folder(self.out, resume=self.resume, overwrite=self.overwrite)
        self.stack.enter_context(RunLock(self.out))  # held before anything in --out is moved or written
        if self.overwrite:
            aside = set_aside_earlier_run(self.out)
            if aside is not None:
                print(f"moved the earlier run's files into {aside}", flush=True)
        if self.announce:
            print(self.announce, flush=True)
        self.claimed = True
        return self.out


def check_regular(path: Path) -> None:
    """Refuse ``path`` when it exists and is not a regular file; a symlink is refused whatever it points to.

    Raises:
        BridgeError: naming the path, what it is, and the fix.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    raise BridgeError(
        f"{path} is {kind}, not a regular file; qml-bridge never writes through one: remove it or choose another --out"
    )


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through a temporary file in the same folder, fsync and an atomic rename: ``path`` is either
    the old or the new file, never half, and a symlink at ``path`` is refused, never followed (a rename replaces
    the name, it does not write through it).

    Args:
        path: the file to write (its folder must exist).
        write: called with the open temporary file (binary).

    Raises:
        BridgeError: ``path`` is a symlink, FIFO, device or folder.
    """
    check_regular(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _write_failure(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        check_regular(path)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _write_failure(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_failure(path: Path, error: OSError) -> BridgeError:
    """A failed write as one line: the file, why, the free space where it matters, and that the file before the
    write (if any) is intact."""
    kept = f"the previous {path.name} is intact" if path.is_file() else f"no {path.name} was written"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        free = shutil.disk_usage(path.parent).free
        return BridgeError(
            f"no space left in {path.parent} ({free / 2**20:,.1f} MiB free) while writing {path.name}; {kept}. "
            "Free some space, then run again (with --resume where a checkpoint was kept)"
        )
    return BridgeError(f"{path} cannot be written ({error.strerror or error}); {kept}. Choose another --out")


def set_aside_earlier_run(out: Path) -> Path | None:
    """Move an earlier run's files (checkpoint, metrics, figures) out of the way into a new subfolder of ``out``,
    ``earlier-run-YYYYmmdd-HHMMSS[-N]``; nothing is deleted. Call it only while holding :class:`RunLock`.

    Returns:
        The subfolder, or ``None`` when ``out`` held none of those files.
    """
    earlier = [out / name for name in RUN_FILES if name != LOCK_NAME and (out / name).is_file()]
    if not earlier:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = out / f"{EARLIER_PREFIX}{stamp}"
    n = 1
    while True:
        try:
            aside.mkdir()
            break
        except FileExistsError:
            n += 1
            aside = out / f"{EARLIER_PREFIX}{stamp}-{n}"
    for path in earlier:
        os.rename(path, aside / path.name)  # same folder tree: a rename, atomic, never a copy
    return aside


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
        check_regular(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as e:  # ELOOP: a symlink put there after the check
            raise BridgeError(f"{self.path} cannot be opened as a lock file ({e.strerror}); remove it") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BridgeError(f"{self.path} is not a regular file; qml-bridge never writes through one: remove it")
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
