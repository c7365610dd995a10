"""Shared fixtures: seeds, an isolated data cache, environments without IBM credentials, and a spy on the Aer runs
of the device's worker processes."""

from __future__ import annotations

import json
import os
from pathlib import Path

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


class WorkerAerRuns:
    """The ``AerSimulator.run`` calls of the device's worker processes (:mod:`bridge.qiskit.workers`), as counted
    there by ``tests/support/aer_spy/sitecustomize.py``: one dict per run (``pid``, ``rows``, ``saves``,
    ``threads``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def runs(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines()] if self.path.exists() else []

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def worker_aer_runs(monkeypatch, tmp_path):
    """Workers started during the test count their Aer runs (the pools are stopped before and after it, so that
    the test's workers are new processes started with the spy on their path)."""
    from bridge.qiskit.workers import close_pools

    close_pools()
    spy = tmp_path / "worker-aer-runs.jsonl"
    monkeypatch.setenv("BRIDGE_TEST_AER_SPY", str(spy))
    path = [str(Path(__file__).parent / "support" / "aer_spy"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    yield WorkerAerRuns(spy)
    close_pools()


SLOW_TESTS = Path(__file__).parent / "slow_tests.txt"  # written by tests/support/mark_slow.py from --durations=0


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` the tests listed in ``tests/slow_tests.txt`` (measured, not guessed), so that
    ``pytest -m "not slow"`` is the fast subset; a parametrized test is listed by its function's id."""
    listed = set(SLOW_TESTS.read_text().split()) if SLOW_TESTS.is_file() else set()
    for item in items:
        if item.nodeid in listed or item.nodeid.split("[")[0] in listed:
            item.add_marker(pytest.mark.slow)
