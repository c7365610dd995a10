"""Fuzzing the command line's boundary: generated argument lists, profile files (bytes) and checkpoint dictionaries.

The property everywhere: exit 0, or exit 2 with one line on stderr — never a traceback, never another code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.app.cli import main
from bridge.exceptions import ProfileError
from bridge.profiles import load_profile

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

junk = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "exact", "none", "-", "--", "0", "1", "aer", "default", "/dev/null", "é", "1e3"]),
    st.text(max_size=8),
)
OPTIONS = ["--seed", "--shots", "--batch-size", "--epochs", "--device", "--checkpoint-every", "--nproc", "--out"]
FLAGS = ["--resume", "--overwrite", "--classical", "--no-progress"]


def _one_line_or_ok(code: int, err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line]
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert len(lines) == 1, err


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


@SETTINGS
@given(
    options=st.lists(st.tuples(st.sampled_from(OPTIONS), junk), max_size=4),
    flags=st.lists(st.sampled_from(FLAGS), max_size=2, unique=True),
)
def test_generated_train_arguments_exit_0_or_2_with_one_line(options, flags, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "mnist01", "--dry-run", "--out", f"{tmp}/out"]
        for option, value in options:
            argv += [option, value.replace("\0", "")]
        argv += flags
        code, err = _run(argv, capsys)
        _one_line_or_ok(code, err)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_profile_bytes_load_or_raise_profile_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.toml"
        path.write_bytes(data)
        try:
            load_profile(path)
        except ProfileError as e:
            assert "\n" not in str(e).strip()


PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)
FIELDS = ["format", "identity", "modules", "torch_rng", "device_rngs", "progress", "history", "seconds", "execution"]


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real")
    assert main(["train", "mnist01", "--device", "default", "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    return out / "checkpoint.pt"


@SETTINGS
@given(replaced=st.dictionaries(st.sampled_from(FIELDS), PLAIN, min_size=1, max_size=3))
def test_any_checkpoint_dictionary_resumes_or_exits_2_with_one_line(replaced, real_checkpoint, capsys):
    state = torch.load(real_checkpoint, weights_only=True)
    state.update(replaced)
    with tempfile.TemporaryDirectory() as tmp:
        Path(f"{tmp}/out").mkdir()
        torch.save(state, f"{tmp}/out/checkpoint.pt")
        argv = ["train", "mnist01", "--device", "default", "--epochs", "1", "--no-progress", "--resume"]
        code, err = _run([*argv, "--out", f"{tmp}/out"], capsys)
        _one_line_or_ok(code, err)
