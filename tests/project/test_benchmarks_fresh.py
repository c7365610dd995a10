"""The benchmarks' tables in ``docs/benchmarks.md`` name the commit that measured them and say when they are
stale (issue #23): ``benchmarks/run.py``, ``noise.py``, ``aer_rows.py`` and ``step_overhead.py`` with
``--write-docs`` write each block with its commit and command; this test recomputes each block's note from git and
fails when the docs' differs.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = ["benchmark-tables", "noise-table", "aer-rows-table", "step-overhead-table"]


def _report(monkeypatch):
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "report", module)
    spec.loader.exec_module(module)
    return module


def _git_history() -> bool:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode == 0


@pytest.mark.skipif(not _git_history(), reason="needs the project's git history (a checkout, not an sdist)")
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_each_benchmark_table_names_its_commit_and_every_file_changed_since(monkeypatch, name):
    report = _report(monkeypatch)
    results = json.loads((ROOT / "benchmarks" / report.RESULTS[name]).read_text())
    text = report.block(name)
    assert f"Measured on commit {results['commit']} with `{results['command']}`." in text
    found = re.search(rf"<!-- {name}-note -->(.*)<!-- /{name}-note -->", text)
    assert found, f"{name}: no note; rerun the benchmark with --write-docs"
    assert found.group(1) == report.stale_note(results["commit"]), (
        f"docs/benchmarks.md's {name} note is out of date: rerun the benchmark with --write-docs, or mark it stale "
        "with python benchmarks/report.py"
    )


def test_a_change_to_the_measured_code_is_listed(monkeypatch):
    """Against the repository's first commit every module of bridge/ changed: the note says stale and names them."""
    if not _git_history():
        pytest.skip("needs the project's git history")
    report = _report(monkeypatch)
    first = report.git("rev-list", "--max-parents=0", "HEAD").splitlines()[0]
    note = report.stale_note(first)
    assert note.startswith("**Stale**") and "`bridge/__init__.py`" in note
