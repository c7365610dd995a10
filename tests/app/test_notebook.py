"""``examples/bring_your_own_qnode.ipynb`` runs top to bottom in a real Jupyter kernel (nbclient), so it never goes
stale: its own cells assert the shot-noise bound, the verification and the trained accuracy."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "bring_your_own_qnode.ipynb"


def test_the_notebook_runs_and_its_checks_hold(tmp_path, monkeypatch):
    monkeypatch.delenv("BRIDGE_DEVICE", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = ["".join(o.get("text", "") for o in cell.get("outputs", [])) for cell in notebook.cells]
    assert any("test accuracy" in text and "jobs" in text for text in outputs)
    assert not any(o.get("output_type") == "error" for cell in notebook.cells for o in cell.get("outputs", []))
