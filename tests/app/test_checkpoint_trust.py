"""Checkpoints are untrusted input (issue #22): people download and share run folders.

A crafted checkpoint is refused through the real CLI with exit 2 and one line naming the checkpoint and the field,
before anything is restored: a compression bomb before ``torch.load`` reads it (5), a run whose profile now
resolves to another device (7), every malformed field (8); and a refused checkpoint leaves the caller's model and
RNG states as they were (12). The checkpoint edited here is a real one, from a short run on a ``bridge.qiskit``
profile (so it holds a sampler RNG state and execution counts).
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from bridge.app.checkpoints import RunCheckpoint
from bridge.app.cli import main
from bridge.exceptions import BridgeError

IDEAL = 'description = "mine"\ndevice = "bridge.qiskit"\nshots = 100\nseed = 7\n\n[qiskit]\nbackend = "aer"\n'
NOISY = IDEAL + 'noise_backend = "FakeBrisbane"\n'
STEPS = 4  # 200 training images, batch size 50
MiB = 2**20

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """A real checkpoint: mnist01, one epoch on an ideal-Aer ``mine.toml``, batch size 50 (a few seconds)."""
    base = tmp_path_factory.mktemp("trust")
    (base / "ideal").mkdir()
    (base / "ideal" / "mine.toml").write_text(IDEAL)
    argv = ["train", "mnist01", "--device", str(base / "ideal" / "mine.toml"), "--epochs", "1", "--batch-size", "50"]
    assert main([*argv, "--no-progress", "--out", str(base / "out")]) == 0
    return base / "out" / "checkpoint.pt"


def _resume(tmp: Path, real: Path, edit: Edit | None = None, *, profile: str = IDEAL, epochs: int = 2) -> list[str]:
    """Copy the real checkpoint into ``tmp/out`` (edited by ``edit``), and return the command that resumes it."""
    (tmp / "profile").mkdir()
    (tmp / "profile" / "mine.toml").write_text(profile)
    (tmp / "out").mkdir()
    if edit is None:
        shutil.copy(real, tmp / "out" / "checkpoint.pt")
    else:
        state = torch.load(real, weights_only=True)
        edit(state)
        torch.save(state, tmp / "out" / "checkpoint.pt")
    device = str(tmp / "profile" / "mine.toml")
    return ["train", "mnist01", "--device", device, "--epochs", str(epochs), "--batch-size", "50", "--no-progress"] + [
        "--out",
        str(tmp / "out"),
        "--resume",
    ]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI: exit 2, one line on stderr, no traceback; returns the line."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("qml-bridge: error: checkpoint "), lines[0]
    return lines[0]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets ``state[a][b]…`` (``path`` "a/b/…"; numbers index lists and optimizer states)."""

    def edit(state: dict[str, Any]) -> None:
        *parents, last = (int(p) if p.isdigit() else p for p in path.split("/"))
        node: Any = state
        for key in parents:
            node = node[key]
        node[last] = value(node[last]) if callable(value) else value

    return edit


def _both(*edits: Edit) -> Edit:
    def edit(state: dict[str, Any]) -> None:
        for one in edits:
            one(state)

    return edit


# ------------------------------------------------------------ 5: bounded before torch.load


def _deflated(path: Path) -> None:
    """Rewrite a ``torch.save`` zip (stored entries) with every entry deflated: zeros shrink a thousandfold."""
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)


def _with_junk(megabytes: int, deflate: bool) -> Callable[[Path], None]:
    def craft(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        state["junk"] = torch.zeros(megabytes * MiB, dtype=torch.uint8)
        torch.save(state, path)
        if deflate:
            _deflated(path)

    return craft


def _legacy(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    torch.save(state, path, _use_new_zipfile_serialization=False)


def _not_a_zip(path: Path) -> None:
    path.write_bytes(b"\0" * 100_000)


@pytest.mark.parametrize(
    ("craft", "expected"),
    [
        pytest.param(_with_junk(64, deflate=True), "unpacks to", id="deflated zip bomb (64 MiB of zeros)"),
        pytest.param(_with_junk(40, deflate=False), "MiB", id="plain 40 MiB file"),
        pytest.param(_legacy, "not a zip archive", id="legacy (pre-zip) torch.save format"),
        pytest.param(_not_a_zip, "not a zip archive", id="zeros"),
    ],
)
def test_an_oversized_or_non_zip_checkpoint_is_refused_before_torch_load(
    craft, expected, real, tmp_path, capsys, monkeypatch
):
    argv = _resume(tmp_path, real)
    craft(tmp_path / "out" / "checkpoint.pt")

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("torch.load was called on a checkpoint that should have been refused before")

    monkeypatch.setattr(torch, "load", never)
    line = _refused(argv, capsys)
    assert str(tmp_path / "out" / "checkpoint.pt") in line and expected in line


def test_a_bomb_under_an_unknown_key_names_the_size_and_the_bound(real, tmp_path, capsys):
    argv = _resume(tmp_path, real)
    _with_junk(64, deflate=True)(tmp_path / "out" / "checkpoint.pt")
    assert (tmp_path / "out" / "checkpoint.pt").stat().st_size < 2 * MiB  # the bomb is small on disk
    line = _refused(argv, capsys)
    assert re.search(r"unpacks to 64\.\d MiB \(\d\.\d MiB on disk\), more than the 16\.\d MiB at most", line), line


def test_an_unknown_top_level_key_is_refused_by_name(real, tmp_path, capsys):
    line = _refused(_resume(tmp_path, real, _set("junk", torch.zeros(3))), capsys)
    assert "'junk'" in line and "unknown" in line


# ------------------------------------------------------------ 7: the resolved profile is part of the identity


def test_resuming_with_a_profile_that_resolves_to_another_backend_is_refused(real, tmp_path, capsys):
    line = _refused(_resume(tmp_path, real, profile=NOISY), capsys)
    assert "profile 'mine' resolved to another device" in line
    assert "aer_simulator" in line and "fake_brisbane" in line


def test_resuming_with_a_profile_whose_settings_changed_is_refused(real, tmp_path, capsys):
    line = _refused(_resume(tmp_path, real, profile=IDEAL.replace("seed = 7", "seed = 8")), capsys)
    assert "profile 'mine'" in line and "sha256" in line


def test_a_checkpoint_without_the_resolved_profile_is_refused(real, tmp_path, capsys):
    def older(state: dict[str, Any]) -> None:
        del state["identity"]["profile_sha256"], state["identity"]["backend"]

    line = _refused(_resume(tmp_path, real, older), capsys)
    assert "records no resolved profile" in line


def test_the_identity_records_the_resolved_profile(real):
    identity = torch.load(real, weights_only=True)["identity"]
    assert identity["backend"] == "aer_simulator" and len(identity["profile_sha256"]) == 64


def test_a_genuine_checkpoint_still_resumes(real, tmp_path, capsys):
    assert main(_resume(tmp_path, real, epochs=1)) == 0, capsys.readouterr().err


def test_a_genuine_mid_epoch_checkpoint_still_resumes(real, tmp_path, capsys):
    def mid_epoch(state: dict[str, Any]) -> None:  # where a run stopped after 3 of epoch 1's 4 steps stands
        state["progress"] = {"epoch": 0, "step": 3, "loss_sum": 1.5, "correct": 100, "seen": 150}
        state["history"] = {"train_loss": [], "train_accuracy": []}

    assert main(_resume(tmp_path, real, mid_epoch, epochs=1)) == 0, capsys.readouterr().err


# ------------------------------------------------------------ 8: every field checked


def _nan_weight(state: dict[str, Any]) -> None:
    state["modules"]["model"]["features.fc1.weight"][0, 0] = math.nan


def _huge_sampler_state(state: dict[str, Any]) -> None:
    state["device_rngs"][0]["state"]["state"] = 2**200


FIELDS = [
    pytest.param(_set("progress/extra", 1), "'extra'", id="extra progress field"),
    pytest.param(
        _both(_set("progress/step", STEPS), _set("progress/seen", 0)), "'seen'", id="zero samples seen mid-epoch"
    ),
    pytest.param(_set("progress/loss_sum", "0.5"), "'loss_sum'", id="string loss"),
    pytest.param(_set("progress/loss_sum", math.nan), "'loss_sum'", id="NaN loss"),
    pytest.param(_set("progress/correct", -1), "'correct'", id="negative correct"),
    pytest.param(_set("progress/epoch", True), "'epoch'", id="boolean epoch"),
    pytest.param(_set("execution/primitive_jobs", "3"), "'execution'", id="string execution count"),
    pytest.param(_set("execution/circuit_shots", -5), "'execution'", id="negative execution count"),
    pytest.param(_set("execution/jobs_on_mars", 1), "'execution'", id="unknown execution count"),
    pytest.param(_huge_sampler_state, "'device_rngs'", id="huge sampler RNG state"),
    pytest.param(_set("device_rngs/0/bit_generator", "MT19937"), "'device_rngs'", id="other bit generator"),
    pytest.param(_set("device_rngs", []), "'device_rngs'", id="no sampler RNG state"),
    pytest.param(_set("torch_rng", torch.zeros(10**6, dtype=torch.uint8)), "'torch_rng'", id="huge torch RNG"),
    pytest.param(_set("torch_rng", lambda t: t.float()), "'torch_rng'", id="float torch RNG"),
    pytest.param(_set("cuda_rng", torch.zeros(3)), "'cuda_rng'", id="malformed CUDA RNG"),
    pytest.param(_set("modules/optimizer/state/0/exp_avg", torch.zeros(3)), "'optimizer'", id="optimizer shape"),
    pytest.param(_set("modules/optimizer/state/0/step", 1.5), "'step'", id="float step"),
    pytest.param(_set("modules/optimizer/state/0/step", torch.tensor(2.5)), "'step'", id="fractional step tensor"),
    pytest.param(_set("modules/optimizer/state/0/step", torch.tensor(1j)), "'step'", id="complex step"),
    pytest.param(_set("modules/optimizer/state/99", {}), "'optimizer'", id="state of no parameter"),
    pytest.param(
        _set("modules/optimizer/state/0", lambda entry: {"step": entry["step"]}), "'optimizer'", id="partial state"
    ),
    pytest.param(_set("modules/optimizer/param_groups/0/amsgrad", True), "'amsgrad'", id="another optimizer switch"),
    pytest.param(_set("modules/optimizer/param_groups/0/lr", -0.1), "'lr'", id="negative learning rate"),
    pytest.param(_set("modules/optimizer/param_groups/0/lr", math.inf), "'lr'", id="infinite learning rate"),
    pytest.param(_set("modules/optimizer/param_groups/0/eps", math.nan), "'eps'", id="NaN eps"),
    pytest.param(_nan_weight, "'features.fc1.weight'", id="NaN weights"),
    pytest.param(_set("modules/model/features.fc1.bias", lambda t: t.double()), "float64", id="float64 weights"),
    pytest.param(_set("modules/model/features.fc1.bias", torch.zeros(3)), "'features.fc1.bias'", id="weight shape"),
    pytest.param(_set("modules/model/extra.weight", torch.zeros(3)), "'extra.weight'", id="unknown weight"),
    pytest.param(_set("history/train_loss/0", math.nan), "'history'", id="NaN history"),
    pytest.param(_set("history/train_accuracy/0", math.inf), "'history'", id="infinite history"),
    pytest.param(_set("history/test_loss", [0.1]), "'history'", id="unknown history entry"),
    pytest.param(_set("seconds", math.nan), "'seconds'", id="NaN seconds"),
    pytest.param(_set("seconds", math.inf), "'seconds'", id="infinite seconds"),
    pytest.param(_set("seconds", -1.0), "'seconds'", id="negative seconds"),
    pytest.param(_set("ranks", [{"torch_rng": 1}]), "'ranks'", id="malformed ranks"),
]


@pytest.mark.parametrize(("edit", "field"), FIELDS)
def test_a_malformed_field_is_refused_with_one_line_naming_it(edit, field, real, tmp_path, capsys):
    line = _refused(_resume(tmp_path, real, edit), capsys)
    assert str(tmp_path / "out" / "checkpoint.pt") in line and field in line


# ------------------------------------------------------------ 12: all or nothing


def _small_run(path: Path) -> tuple[nn.Module, torch.optim.Optimizer]:
    """Save a checkpoint of one Adam step of a small model at ``path``; return a fresh model and optimizer."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    progress = {"epoch": 1, "step": 0, "loss_sum": 0.0, "correct": 0, "seen": 0}
    device = _Sampler()
    RunCheckpoint(path, {"example": "small"}).save(
        {"model": model, "optimizer": optimizer}, [device], progress, {"train_loss": [0.5]}, 1.0, {}
    )
    torch.manual_seed(99)
    fresh = nn.Linear(3, 2)
    return fresh, torch.optim.Adam(fresh.parameters(), lr=0.01)


class _Sampler:
    """A device with a sampler RNG state, as ``bridge.qiskit``'s."""

    def __init__(self) -> None:
        self.rng_state = np.random.default_rng(5).bit_generator.state


class _FailsToLoad:
    """A module whose state validates but cannot be applied (a scheduler of another kind, say)."""

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise RuntimeError("cannot apply")


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_checkpoint_refused_at_its_history_restores_nothing(tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer = _small_run(path)
    state = torch.load(path, weights_only=True)
    state["history"]["train_loss"] = [0.5, 0.4]  # two epochs' losses in a checkpoint at epoch 1
    torch.save(state, path)
    before, rng, device = _snapshot(model), torch.get_rng_state(), _Sampler()
    device.rng_state = np.random.default_rng(6).bit_generator.state
    sampler_before = copy.deepcopy(device.rng_state)
    with pytest.raises(BridgeError, match=r"field 'history'"):
        RunCheckpoint(path, {"example": "small"}).restore({"model": model, "optimizer": optimizer}, [device], epochs=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng) and device.rng_state == sampler_before
    assert optimizer.state_dict()["state"] == {}


def test_a_checkpoint_that_fails_to_apply_is_rolled_back(tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer = _small_run(path)
    state = torch.load(path, weights_only=True)
    state["modules"]["scheduler"] = {"last_epoch": 0}
    torch.save(state, path)
    modules = {"model": model, "optimizer": optimizer, "scheduler": _FailsToLoad()}
    before, rng = _snapshot(model), torch.get_rng_state()
    with pytest.raises(BridgeError, match=r"'scheduler'.*nothing of it was restored"):
        RunCheckpoint(path, {"example": "small"}).restore(modules, [_Sampler()], epochs=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng) and optimizer.state_dict()["state"] == {}


def test_a_valid_small_checkpoint_restores_everything(tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer = _small_run(path)
    saved = torch.load(path, weights_only=True)
    device = _Sampler()
    device.rng_state = np.random.default_rng(6).bit_generator.state
    state = RunCheckpoint(path, {"example": "small"}).restore(
        {"model": model, "optimizer": optimizer}, [device], epochs=2
    )
    assert all(torch.equal(saved["modules"]["model"][k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), saved["torch_rng"]) and device.rng_state == saved["device_rngs"][0]
    assert state["history"] == {"train_loss": [0.5]} and state["progress"]["epoch"] == 1
