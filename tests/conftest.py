"""Shared fixtures: seeds, an isolated data cache, and environments without IBM credentials."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """Each test: fixed torch seed, no BRIDGE_DEVICE from the caller, data cache in a per-session folder."""
    torch.manual_seed(1234)
    monkeypatch.delenv("BRIDGE_DEVICE", raising=False)
    monkeypatch.setenv("QML_BRIDGE_CACHE", str(tmp_path_factory.getbasetemp() / "data-cache"))


@pytest.fixture
def no_ibm_credentials(monkeypatch, tmp_path):
    """No token in the environment and no saved account (HOME points at an empty folder)."""
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL", "QISKIT_IBM_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path
