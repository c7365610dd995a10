"""Nothing lost, nothing written outside ``--out`` (issue #22): the run folder through the real command line.

Each test makes the reported hole happen (a real second process, real symlinks, FIFOs and files) and checks the
outcome: the exit code, one line without a traceback, files intact, nothing written outside ``--out``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train(out: Path, *extra: str) -> list[str]:
    return ["train", "mnist01", "--device", "default", "--epochs", "1", "--no-progress", "--out", str(out), *extra]


def test_overwrite_against_a_running_run_touches_none_of_its_files(tmp_path, capsys):
    """#22.1: ``--overwrite`` into a folder another run holds stops at the lock, and the running run's checkpoint
    is still there afterwards: once that run is killed, ``--resume`` continues it."""
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "bridge", *_train(out, "--checkpoint-every", "20")]
    argv[argv.index("1", argv.index("--epochs"))] = "50"  # long enough to be caught running
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    checkpoint = out / "checkpoint.pt"
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None and checkpoint.is_file(), first.stderr.read() if first.stderr else ""
        first.send_signal(signal.SIGSTOP)  # SIGSTOP: the checkpoint stays as it is while the second run tries
        before = _digest(checkpoint)
        assert main([*_train(out, "--overwrite")]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"another run (PID {first.pid}) is writing into --out {out}" in line
        assert checkpoint.is_file() and _digest(checkpoint) == before
        assert sorted(p.name for p in out.iterdir() if p.name.startswith("earlier-run-")) == []
    finally:
        first.kill()
        first.wait()
    # the kernel released the killed run's lock, and its checkpoint (epoch 0, step 20) is there to resume
    resumed = [*_train(out, "--resume")]
    resumed[resumed.index("--epochs") + 1] = "2"
    assert main(resumed) == 0, capsys.readouterr().err


def test_overwrite_moves_the_earlier_run_aside_and_deletes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_train(out)) == 0
    capsys.readouterr()
    earlier = {name: _digest(out / name) for name in ("checkpoint.pt", "metrics.json", "loss.png", "predictions.png")}
    assert main(_train(out, "--overwrite")) == 0
    said = capsys.readouterr().out
    aside = [p for p in out.iterdir() if p.name.startswith("earlier-run-")]
    assert len(aside) == 1 and f"moved the earlier run's files into {aside[0]}" in said
    assert {name: _digest(aside[0] / name) for name in earlier} == earlier
    assert all((out / name).is_file() for name in earlier)  # and the new run wrote its own


@pytest.mark.parametrize("name", [".qml-bridge.lock", "checkpoint.pt", "metrics.json", "loss.png", "predictions.png"])
def test_a_symlink_in_out_is_refused_before_the_run_and_its_target_is_untouched(tmp_path, capsys, name):
    """#22.2: a run file that is a symlink (an unpacked or shared run folder) is refused with its name, exit 2,
    before anything runs; the file it points to keeps its bytes."""
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / name).symlink_to(victim)
    code = main(_train(out, "--overwrite"))
    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert f"{out / name} is a symbolic link, not a regular file" in line
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim.txt"]


def test_the_lock_is_opened_without_following_a_symlink_put_there_after_the_check(tmp_path):
    """The lock is opened with ``O_NOFOLLOW``: a symlink that appears between the check and the open is refused."""
    from bridge.exceptions import BridgeError
    from bridge.run_folder import RunLock, check_regular

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".qml-bridge.lock").symlink_to(victim)
    lock = RunLock(tmp_path)
    import bridge.run_folder as run_folder

    original = run_folder.check_regular
    run_folder.check_regular = lambda path: None  # the race: the check passed before the link appeared
    try:
        with pytest.raises(BridgeError, match="cannot be opened as a lock file"), lock:
            pass
    finally:
        run_folder.check_regular = original
    assert victim.read_text() == "precious"
    with pytest.raises(BridgeError, match="is a symbolic link"):
        check_regular(tmp_path / ".qml-bridge.lock")


def test_write_atomic_replaces_a_symlink_put_there_during_the_write_instead_of_following_it(tmp_path):
    from bridge.run_folder import write_atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "metrics.json"

    def write(f):
        f.write(b"{}")
        target.symlink_to(victim)  # appears after the first check

    from bridge.exceptions import BridgeError

    with pytest.raises(BridgeError, match="is a symbolic link"):
        write_atomic(target, write)
    assert victim.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    os.unlink(target)
