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

from bridge.app.cli import main

from support.runs import one_line as _one_line
from support.runs import train_args

ROOT = Path(__file__).resolve().parents[2]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_overwrite_against_a_running_run_touches_none_of_its_files(tmp_path, capsys):
    """#22.1: ``--overwrite`` into a folder another run holds stops at the lock, and the running run's checkpoint
    is still there afterwards: once that run is killed, ``--resume`` continues it."""
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "bridge", *train_args(out, "--device", "default", "--checkpoint-every", "20")]
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
        assert main([*train_args(out, "--device", "default", "--overwrite")]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"another run (PID {first.pid}) is writing into --out {out}" in line
        assert checkpoint.is_file() and _digest(checkpoint) == before
        assert sorted(p.name for p in out.iterdir() if p.name.startswith("earlier-run-")) == []
    finally:
        first.kill()
        first.wait()
    # the kernel released the killed run's lock, and its checkpoint (epoch 0, step 20) is there to resume
    resumed = [*train_args(out, "--device", "default", "--resume")]
    resumed[resumed.index("--epochs") + 1] = "2"
    assert main(resumed) == 0, capsys.readouterr().err


def test_overwrite_moves_the_earlier_run_aside_and_deletes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(train_args(out, "--device", "default")) == 0
    capsys.readouterr()
    earlier = {name: _digest(out / name) for name in ("checkpoint.pt", "metrics.json", "loss.png", "predictions.png")}
    assert main(train_args(out, "--device", "default", "--overwrite")) == 0
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
    code = main(train_args(out, "--device", "default", "--overwrite"))
    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert f"{out / name} is a symbolic link, not a regular file" in line
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim.txt"]


def test_the_lock_is_opened_without_following_a_symlink_put_there_after_the_check(tmp_path):
    """The lock is opened with ``O_NOFOLLOW``: a symlink that appears between the check and the open is refused."""
    from bridge.app.run_folder import RunLock, check_regular
    from bridge.exceptions import BridgeError

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".qml-bridge.lock").symlink_to(victim)
    lock = RunLock(tmp_path)
    import bridge.app.run_folder as run_folder

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
    from bridge.app.run_folder import write_atomic

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


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished mnist01 run's folder (checkpoint, metrics, figures), copied per test."""
    out = tmp_path_factory.mktemp("finished") / "out"
    assert main(train_args(out, "--device", "default")) == 0
    return out


def _copy_run(finished: Path, where: Path) -> tuple[Path, dict[str, str]]:
    import shutil

    out = where / "out"
    shutil.copytree(finished, out)
    (out / ".qml-bridge.lock").unlink(missing_ok=True)
    return out, {p.name: _digest(p) for p in out.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    "bad",
    [["--batch-size", "100000"], ["--torch-device", "cuda"], ["--data-root", "/nonexistent"], ["--device", "aer-gpu"]],
    ids=["batch-size", "torch-device-cuda", "data-root", "aer-gpu"],
)
def test_overwrite_with_a_bad_input_caught_late_leaves_the_earlier_run_as_it_was(finished_run, tmp_path, capsys, bad):
    """#22.3: every option, the profile, the data and the model are checked before ``--out`` is touched."""
    import torch

    if bad[-1] == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --torch-device cuda is valid here")
    out, before = _copy_run(finished_run, tmp_path)
    code = main([*train_args(out, "--device", "default", "--overwrite"), *bad])
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert code == 2, line
    assert "running" not in captured.out and "moved" not in captured.out
    assert {p.name: _digest(p) for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.is_dir()]


@pytest.mark.parametrize("bad", [["--torch-device", "cuda"], ["--device", "aer-gpu"], ["--batch-size", "100000"]])
def test_a_refused_run_does_not_create_its_out(tmp_path, capsys, bad):
    import torch

    if bad[-1] == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "fresh" / "out"
    assert main([*train_args(out, "--device", "default"), *bad]) == 2
    captured = capsys.readouterr()
    _one_line(captured.err)
    assert "running" not in captured.out
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_checkpoint_that_is_not_a_regular_file_is_named_as_such(tmp_path, capsys, kind):
    """#22.10: a FIFO (which would block a reader) or a symlink to ``/dev/zero`` is refused before it is opened."""
    out = tmp_path / "out"
    out.mkdir()
    if kind == "fifo":
        os.mkfifo(out / "checkpoint.pt")
        expected = "is a FIFO, not a regular file"
    else:
        (out / "checkpoint.pt").symlink_to("/dev/zero")
        expected = "is a symbolic link, not a regular file"
    assert main(train_args(out, "--device", "default", "--resume")) == 2
    assert expected in _one_line(capsys.readouterr().err)


@pytest.fixture
def small_disk(tmp_path):
    """A real 400 KiB tmpfs: room for one mnist01 checkpoint (about 270 KiB) and not for a second."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_naming_the_folder_and_the_checkpoint_stays_intact(
    finished_run, small_disk, capsys, monkeypatch
):
    """#22.10: the disk fills while the next checkpoint is written: exit 2, one line with the folder and its free
    space, and the previous checkpoint is intact (it resumes)."""
    import shutil

    import bridge.app.train

    out = small_disk / "out"
    out.mkdir()
    shutil.copy(finished_run / "checkpoint.pt", out / "checkpoint.pt")
    before = _digest(out / "checkpoint.pt")
    monkeypatch.setattr(bridge.app.train, "check_free_space", lambda out, needed: None)  # let it reach the write
    resumed = train_args(out, "--device", "default", "--resume", "--checkpoint-every", "10")
    resumed[resumed.index("--epochs") + 1] = "2"
    assert main(resumed) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"no space left in {out} (" in line and "MiB free) while writing" in line, line
    assert "is intact" in line or "no checkpoint.pt was written" in line, line
    assert _digest(out / "checkpoint.pt") == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_ctrl_c_before_the_first_checkpoint_says_there_is_none(tmp_path, capsys, monkeypatch):
    """#22.11: the message tells what is on disk, not what usually is."""
    import bridge.app.data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.app.data, "load_split", interrupted)  # Ctrl-C while the data loads
    assert main(train_args(tmp_path / "out", "--device", "default")) == 130
    line = _one_line(capsys.readouterr().err)
    assert "no checkpoint was written, so there is nothing to resume" in line
    monkeypatch.undo()
    assert main(train_args(tmp_path / "out", "--device", "default", "--resume")) == 2  # and indeed there is none
    assert "no checkpoint at" in _one_line(capsys.readouterr().err)


def test_ctrl_c_during_verify_does_not_speak_of_a_checkpoint(capsys, monkeypatch):
    import bridge.verification.library

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.verification.library, "verify_case", interrupted)
    assert main(["verify", "--random", "0"]) == 130
    line = _one_line(capsys.readouterr().err)
    assert "checkpoint" not in line and "nothing was written" in line


def test_ctrl_c_after_a_checkpoint_names_it(finished_run, tmp_path, capsys, monkeypatch):
    import bridge.app.data

    out, _ = _copy_run(finished_run, tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.app.data, "load_split", interrupted)
    resumed = train_args(out, "--device", "default", "--resume")
    resumed[resumed.index("--epochs") + 1] = "2"
    assert main(resumed) == 130
    assert f"the checkpoint {out / 'checkpoint.pt'} holds the run up to its last save" in _one_line(
        capsys.readouterr().err
    )


ENTRY_KINDS = ["absent", "earlier", "symlink-file", "symlink-folder", "fifo", "read-only", "folder"]


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every path under ``root`` outside ``skip``, with its bytes' digest (files) or its kind."""
    seen = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        seen[str(path)] = "link" if path.is_symlink() else _digest(path) if path.is_file() else "folder"
    return seen


@pytest.mark.parametrize("seed", range(6))
def test_fuzz_out_contents_never_write_outside_out_nor_lose_a_finished_checkpoint(finished_run, tmp_path, seed):
    """Random mixtures of symlinks (to files and folders outside), FIFOs, read-only files, folders and an earlier
    run's files at the names a run writes, with no flag, ``--overwrite`` or ``--resume``: the exit is 0 or 2 with
    one line, nothing outside ``--out`` changes, and a finished run's checkpoint survives (in place, moved into
    ``earlier-run-*/``, or continued by ``--resume``)."""
    import random
    import shutil

    from bridge.app.run_folder import RUN_FILES

    rng = random.Random(seed)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious")
    (outside / "folder").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    for name in RUN_FILES:
        kind = rng.choice(ENTRY_KINDS)
        path = out / name
        if kind == "earlier" and (finished_run / name).is_file():
            shutil.copy(finished_run / name, path)
        elif kind == "symlink-file":
            path.symlink_to(outside / "victim.txt")
        elif kind == "symlink-folder":
            path.symlink_to(outside / "folder")
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "read-only" and (finished_run / name).is_file():
            shutil.copy(finished_run / name, path)
            path.chmod(0o444)
        elif kind == "folder":
            path.mkdir()
    checkpoint = out / "checkpoint.pt"
    finished = _digest(checkpoint) if checkpoint.is_file() and not checkpoint.is_symlink() else None
    flag = rng.choice([[], ["--overwrite"], ["--resume"]])
    before = _snapshot(tmp_path, out)

    result = subprocess.run(  # a timeout, not a hang, if a FIFO were ever opened
        [sys.executable, "-m", "bridge", *train_args(out, "--device", "default", *flag)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 1, result.stderr
    assert _snapshot(tmp_path, out) == before, f"seed {seed}: something outside --out changed"
    assert (outside / "victim.txt").read_text() == "precious"
    if finished is not None:
        kept = [p for p in [checkpoint, *out.glob("earlier-run-*/checkpoint.pt")] if p.is_file()]
        continued = flag == ["--resume"] and result.returncode == 0 and checkpoint.is_file()
        assert continued or finished in {_digest(p) for p in kept}, f"seed {seed}: the finished checkpoint is lost"
