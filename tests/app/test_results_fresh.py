"""The examples' results table names the commit whose code produced it, and says when it is stale (issue #23).

``examples/run_all.py`` records the commit in ``examples/results.json`` and writes, under the table, either that
nothing in ``bridge/``, ``examples/`` or ``devices/`` changed since, or the list of files that did. This test
recomputes that line from git and fails when the README's differs: a code change without re-measuring (or at
least without ``python examples/run_all.py --table-only``, which marks the table stale) cannot land unseen.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run_all(monkeypatch):
    spec = importlib.util.spec_from_file_location("run_all", EXAMPLES / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_all", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _git_history() -> bool:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _git_history(), reason="needs the project's git history (a checkout, not an sdist)")
def test_the_examples_table_names_its_commit_and_every_file_changed_since(monkeypatch):
    run_all = _run_all(monkeypatch)
    results = json.loads((EXAMPLES / "results.json").read_text())
    if isinstance(results, list):  # the single-seed table of before the sweep command (#23): no commit recorded
        pytest.skip("examples/results.json predates the seed sweep: run python examples/run_all.py --seeds 0-4")
    commit = results.get("commit")
    assert commit, "examples/results.json names no commit: run python examples/run_all.py --seeds 0-4"
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    assert known.returncode == 0, f"commit {commit} of examples/results.json is not in this checkout's history"
    expected = f"<!-- stale -->{run_all.stale_note(commit)}<!-- /stale -->"
    readme = (EXAMPLES / "README.md").read_text()
    assert expected in readme, (
        f"examples/README.md's table does not say what changed since {commit}: rerun the sweep, or "
        "python examples/run_all.py --table-only to mark it stale"
    )


def test_seed_ranges_parse(monkeypatch):
    run_all = _run_all(monkeypatch)
    assert run_all.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert run_all.parse_seeds("0,2,5") == [0, 2, 5]
    assert run_all.parse_seeds("3") == [3]


def test_a_target_is_met_only_on_every_seed(monkeypatch, tmp_path):
    """Two seeds of mnist01, one below 0.99: the row says 1/2 and 'no'."""
    run_all = _run_all(monkeypatch)
    monkeypatch.setattr(run_all, "RUNS", tmp_path)
    row = run_all.Row("mnist01", "aer")
    for seed, accuracy in ((0, 0.995), (1, 0.365)):
        out = row.out(seed)
        out.mkdir(parents=True)
        metrics = {"example": "mnist01", "shots": None, "epochs": 5, "test_accuracy": accuracy, "test_images": 200}
        (out / "metrics.json").write_text(json.dumps({**metrics, "seconds": 10.0}))
    text, records = run_all.table([row], [0, 1], {})
    line = text.splitlines()[-1]
    assert "| 0.365 / 0.680 / 0.995 | 1/2 |" in line and "≥ 0.99 (no)" in line
    assert [r["met"] for r in records] == [True, False]


def test_table_only_rebuilds_from_results_json_without_runs(monkeypatch, tmp_path):
    """A fresh clone has no ``runs/``: the table is rebuilt from every run ``results.json`` records, not from
    nothing (``--table-only`` once rewrote ``results.json`` with zero runs)."""
    run_all = _run_all(monkeypatch)
    monkeypatch.setattr(run_all, "RUNS", tmp_path / "no-runs-here")
    results = json.loads((run_all.HERE / "results.json").read_text())
    recorded = {(r["row"], r["seed"]): r["metrics"] for r in results["runs"]}
    text, records = run_all.table(run_all.rows(results["fashion_root"]), results["seeds"], recorded)
    assert {(r["row"], r["seed"]) for r in records} == set(recorded)
    hybrid_rows = {name for name, _ in recorded if not name.endswith("-classical")}
    assert len(text.splitlines()) == 2 + len(hybrid_rows)  # header, rule, one line per hybrid row
