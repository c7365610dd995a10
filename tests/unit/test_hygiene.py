"""Hygiene, checked with every test run: lint, format, types on the library layer, declared dependencies,
no copied code in bridge/."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / command[0]), *command[1:]], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_ruff_check_and_format():
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]
    form = _run("ruff", "format", "--check", ".")
    assert form.returncode == 0, form.stdout[-3000:]


def test_mypy_is_clean_on_the_library_layer():
    result = _run("mypy")  # files and options: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout[-3000:]


def test_no_duplicated_code_in_the_package():
    """pylint's duplicate-code check: no six or more similar lines in two places of bridge/."""
    result = _run("pylint", "--disable=all", "--enable=duplicate-code", "--min-similarity-lines=6", "bridge")
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_imported_third_party_package_is_declared():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {_normal(re.split(r"[<>=!\[ ;]", d)[0]) for d in dependencies}
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for path in (ROOT / "bridge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "bridge"}
    undeclared = {
        m: distributions.get(m) for m in third_party if not {_normal(d) for d in distributions.get(m, [])} & declared
    }
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
