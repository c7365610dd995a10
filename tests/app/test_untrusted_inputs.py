"""Inputs nobody should trust (issue #22): a ``--data-root`` gzip bomb, a full data cache, a profile's out-of-range
values. Each case runs the real command line (in-process ``bridge.app.cli.main``, real files): exit 2 and one line
naming the problem and the fix, never a traceback, and nothing left behind in the cache.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from bridge.app.cli import main
from bridge.app.data import embedded_root

from support.runs import one_line, train_args

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20
BOMB_MIB = 200  # decompressed size of each bomb; zeros compress about 1000×, so the .gz is ~200 kB


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit 2 with one error line, and return that line."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    line = one_line(capsys.readouterr().err, prefix="qml-bridge: error:")
    assert code == 2, line
    return line


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------- data


def _write_bomb(path: Path, header: bytes, body_mib: int) -> None:
    """A gzip file of ``header`` and ``body_mib`` MiB of zeros, written in 1 MiB pieces (little memory)."""
    zeros = bytes(MiB)
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
        f.write(header)
        for _ in range(body_mib):
            f.write(zeros)


def _images_header(count: int, rows: int = 28, cols: int = 28) -> bytes:
    return b"".join(n.to_bytes(4, "big") for n in (2051, count, rows, cols))


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(a --data-root holding the embedded MNIST files, its raw folder, an empty data cache of this test)."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    shutil.copytree(embedded_root() / "MNIST" / "raw", raw)
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("QML_BRIDGE_CACHE", str(cache))
    return tmp_path / "data", raw, cache


def _measured(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, float, int]:
    """The refusal's line, its seconds and the peak of Python's allocations while it ran (bytes)."""
    import bridge.app.cost  # noqa: F401  (imported before measuring: the modules' own memory is not the data's)
    import bridge.app.data  # noqa: F401
    import bridge.app.train  # noqa: F401

    tracemalloc.start()
    started = time.monotonic()
    try:
        line = _refused(argv, capsys)
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return line, seconds, peak


def test_a_gzip_bomb_with_a_bad_header_is_refused_and_leaves_nothing_in_the_cache(data_root, capsys):
    root, raw, cache = data_root
    _write_bomb(raw / "train-images-idx3-ubyte.gz", bytes(16), BOMB_MIB)
    line, seconds, peak = _measured(train_args(root.parent / "out", "--data-root", str(root), "--dry-run"), capsys)
    assert "train-images-idx3-ubyte.gz is not an IDX images file (magic number 0, expected 2051)" in line
    assert _files(cache) == []
    assert seconds < 10 and peak < 32 * MiB, (seconds, peak)


def test_a_gzip_bomb_behind_a_valid_header_stops_at_the_headers_size(data_root, capsys):
    root, raw, cache = data_root
    _write_bomb(raw / "train-images-idx3-ubyte.gz", _images_header(100), BOMB_MIB)
    line, seconds, peak = _measured(train_args(root.parent / "out", "--data-root", str(root), "--dry-run"), capsys)
    assert "train-images-idx3-ubyte.gz holds more than the 78,416 bytes its header announces (100 images)" in line
    assert "replace it with the original file" in line
    assert _files(cache) == []
    assert seconds < 10 and peak < 32 * MiB, (seconds, peak)


def test_a_header_announcing_more_images_than_mnist_has_is_refused_before_decompressing(data_root, capsys):
    """100,000 images of 28×28 (78 MB, every byte of it announced) and as many labels: MNIST's train split has
    60,000, so the header alone is refused; torchvision would otherwise read the whole file into memory."""
    root, raw, cache = data_root
    count = 100_000
    _write_bomb(raw / "train-images-idx3-ubyte.gz", _images_header(count), 0)
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "ab") as f:  # a second gzip member: the images' bytes
        for _ in range(count * 784 // MiB):
            f.write(bytes(MiB))
        f.write(bytes(count * 784 % MiB))
    labels = (2049).to_bytes(4, "big") + count.to_bytes(4, "big") + bytes([0, 1]) * (count // 2)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    line, seconds, peak = _measured(train_args(root.parent / "out", "--data-root", str(root), "--dry-run"), capsys)
    assert "train-images-idx3-ubyte.gz announces 100,000 images; MNIST's train files hold at most 60,000" in line
    assert _files(cache) == []
    assert seconds < 10 and peak < 32 * MiB, (seconds, peak)


def test_a_full_cache_names_the_cache_and_the_fix_not_the_data(monkeypatch, tmp_path, capsys):
    """ENOSPC while expanding the embedded files: simulated by an ``os.write`` that fails like a full disk for files
    in the cache (the real thing, a full tmpfs, is the next test)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("QML_BRIDGE_CACHE", str(cache))
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(cache)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    line = _refused(train_args(tmp_path / "out", "--dry-run"), capsys)
    assert f"no room in the data cache {cache}" in line and "No space left on device" in line, line
    assert "free space there or set QML_BRIDGE_CACHE to a folder with room" in line
    assert "replace it" not in line
    assert _files(cache) == []


def _can_mount_tmpfs() -> bool:
    try:
        probe = subprocess.run(["unshare", "-r", "-m", "mount", "-t", "tmpfs", "tmpfs", "/tmp"], timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unprivileged user and mount namespaces (unshare -r -m)")
def test_a_really_full_tmpfs_cache_names_the_cache_and_the_fix(tmp_path):
    """The embedded train images (3 MB) expanded into a 1 MiB tmpfs, mounted in a namespace of the CLI's own."""
    cache = tmp_path / "cache"
    cache.mkdir()
    script = (
        'mount -t tmpfs -o size=1m tmpfs "$0" || exit 99; '
        '"$1" -m bridge train mnist01 --dry-run --no-progress --out "$2" 2>"$3"; code=$?; '
        'find "$0" -type f; exit $code'
    )
    env = {**os.environ, "QML_BRIDGE_CACHE": str(cache)}
    argv = ["unshare", "-r", "-m", "sh", "-c", script, str(cache), sys.executable, str(tmp_path / "out")]
    result = subprocess.run([*argv, str(tmp_path / "err")], capture_output=True, text=True, env=env, cwd=ROOT)
    line = one_line((tmp_path / "err").read_text(), prefix="qml-bridge: error:")
    assert result.returncode == 2, line
    assert f"no room in the data cache {cache}" in line and "No space left on device" in line, line
    assert "free space there or set QML_BRIDGE_CACHE to a folder with room" in line
    assert result.stdout == ""  # no file left on the tmpfs


def test_a_roots_legacy_processed_files_are_never_what_torchvision_reads(tmp_path):
    """torchvision's MNIST loads ``<root>/MNIST/processed/{training,test}.pt`` when both exist, skipping the raw
    files (and every check of them): such a root is read through the cache, never in place."""
    from bridge.app.data import load_split, prepare_root

    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(embedded_root() / "MNIST" / "raw", raw)
    for gz in raw.glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    (tmp_path / "MNIST" / "processed").mkdir()
    for name in ("training.pt", "test.pt"):
        (tmp_path / "MNIST" / "processed" / name).write_bytes(b"not what the raw files hold")
    assert prepare_root("MNIST", tmp_path) != tmp_path
    assert len(load_split("MNIST", train=False, classes=(3,), per_class=None, root=tmp_path)) == 100


# ---------------------------------------------------------------------------------------------------- profiles


def _profile(tmp: Path, body: str) -> str:
    path = tmp / "mine.toml"
    path.write_text('description = "mine"\n' + body)
    return str(path)


NOISY = 'device = "bridge.qiskit"\nshots = 64\n[qiskit]\nnoise_backend = "FakeManilaV2"\n'


@pytest.mark.parametrize("name", ["aer-noisy:", "ibm-fake-manila:", "aer-noisy: "])
def test_an_empty_fake_device_variant_is_refused(name, tmp_path, capsys):
    """``aer-noisy:`` (``aer-noisy:$UNSET``) ran the ideal simulator, no noise, and called it "aer-noisy:"."""
    line = _refused(train_args(tmp_path / "out", "--device", name, "--dry-run"), capsys)
    assert f"profile {name!r} names no fake device after ':'" in line, line
    assert f"give one ({name.partition(':')[0]}:brisbane) or drop the ':'" in line


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        (
            'device = "default.qubit"\nseed = -1\n',
            "line 3: 'seed' must be ≥ 0 and ≤ 4294967295 (2**32 - 1), got -1",
        ),
        (
            'device = "default.qubit"\nseed = 4294967296\n',
            "line 3: 'seed' must be ≥ 0 and ≤ 4294967295 (2**32 - 1), got 4294967296",
        ),
        (
            NOISY + "seed_transpiler = -5\n",
            "line 6: [qiskit] 'seed_transpiler' must be ≥ 0 and ≤ 4294967295 (2**32 - 1), got -5",
        ),
        (
            'device = "bridge.qiskit"\nshots = 64\n[qiskit]\nretries = 0\njob_timeout = 0\n',
            "line 6: [qiskit] 'job_timeout' must be a number of seconds > 0, got 0; omit it for no limit",
        ),
        (
            'device = "bridge.qiskit"\nshots = 64\n[qiskit]\nretries = 1000\n',
            "line 5: [qiskit] 'retries' must be ≥ 0 and ≤ 20, got 1000",
        ),
        (
            'device = "bridge.qiskit"\nshots = 64\n[qiskit]\njob_timeout = 1e10\n',
            "line 5: [qiskit] 'job_timeout' must be a number of seconds ≤ 2,592,000 (30 days), got 1e+10",
        ),
        (
            'device = "default.qubit"\ndiff_method = "hadamard"\n',
            "diff_method 'hadamard' needs an auxiliary wire",
        ),
        (
            'device = "lightning.qubit"\ndiff_method = "backprop"\n',
            "lightning.qubit does not support diff_method 'backprop'; use one of best, adjoint, parameter-shift, "
            "finite-diff, spsa",
        ),
    ],
    ids=[
        "seed -1",
        "seed 2**32",
        "seed_transpiler -5",
        "job_timeout 0",
        "retries 1000",
        "job_timeout 1e10",
        "hadamard on default.qubit",
        "backprop on lightning.qubit",
    ],
)
def test_a_profile_value_out_of_range_is_refused(body, expect, tmp_path, capsys):
    """Before: ValueError or WireError tracebacks, or (job_timeout 0) every job "failed" and exit 1."""
    line = _refused(train_args(tmp_path / "out", "--device", _profile(tmp_path, body)), capsys)
    assert expect in line, line
