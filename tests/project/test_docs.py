"""The docs cannot go stale: the site builds with warnings as errors, and every Python code block of the README
and the docs pages, and every ``>>>`` example of the library's docstrings, runs (issue #25).

A code block that cannot run here (it needs an IBM account, or shows a fragment) is preceded by the line
``<!-- not run: REASON -->``; the test counts the blocks it runs and fails when none would.
"""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- not run: [^>]+ -->\n)?```python\n(.*?)```", re.S)
DOCTESTED = ["bridge.layers.quantum_layer", "bridge.circuits", "bridge.profiles.loading", "bridge.reference.qnn"]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for k, match in enumerate(BLOCK.finditer(page.read_text())):
            if match.group(1) is None:
                found.append((f"{page.relative_to(ROOT)}#{k}", match.group(2)))
    return found


def test_the_docs_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("QuantumLayer", "from_qiskit", "QiskitBatchDevice", "load_profile"):
        assert name in api, f"the API page lacks {name}"


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_every_python_block_of_the_docs_runs(where, code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{where}:\n{code}\n{done.stderr[-3000:]}"


def test_some_blocks_run():
    assert len(_blocks()) >= 3


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples_run(module):
    imported = importlib.import_module(module)
    result = doctest.testmod(imported, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module} has no >>> example any more: drop it from DOCTESTED"
    assert result.failed == 0
