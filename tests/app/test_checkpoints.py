"""Checkpoints are data, not code: a crafted file is refused without running anything."""

from __future__ import annotations

import os

import pytest
import torch

from bridge.app.checkpoints import load_checkpoint, save_checkpoint
from bridge.app.cli import main
from bridge.exceptions import BridgeError


class _Payload:
    """Unpickling this object runs ``touch MARKER`` (what an attacker's checkpoint would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted(path, marker):
    torch.save({"model": {"weight": torch.zeros(1)}, "history": _Payload(marker)}, path)


def test_a_checkpoint_with_a_pickle_payload_is_refused_and_runs_no_code(tmp_path):
    marker = tmp_path / "code-ran"
    _crafted(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(BridgeError, match=r"holds more than tensors and plain data .*posix.system.*could run code"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    assert not marker.exists()


def test_resume_from_a_crafted_checkpoint_exits_2_with_one_line(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    _crafted(tmp_path / "checkpoint.pt", marker)
    assert main(["train", "mnist01", "--device", "default", "--out", str(tmp_path), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could run code" in err and "Traceback" not in err
    assert not marker.exists()


def test_a_checkpoint_that_is_not_a_dictionary_is_refused(tmp_path):
    torch.save([1, 2, 3], tmp_path / "c.pt")
    with pytest.raises(BridgeError, match="holds a list, not a qml-bridge checkpoint"):
        load_checkpoint(tmp_path / "c.pt")


def test_plain_data_round_trips(tmp_path):
    import numpy as np

    state = {
        "model": {"w": torch.arange(3.0)},
        "torch_rng": torch.get_rng_state(),
        "history": {"loss": [0.5]},
        "device_rngs": [np.random.default_rng(1).bit_generator.state],
        "epoch": 2,
        "profile": "aer",
    }
    save_checkpoint(state, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded["device_rngs"] == state["device_rngs"] and torch.equal(loaded["model"]["w"], state["model"]["w"])
