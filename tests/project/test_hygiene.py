"""Hygiene, checked with every test run: lint, format, types on the library layer, declared dependencies,
no copied code in bridge/."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
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
    """A module-level import is a [project] dependency (in the application's modules: or of the ``app`` extra,
    which the CLI checks for); one inside a function (an optional feature, which says which extra to install when
    it is missing) may come from an extra of [project.optional-dependencies]."""
    spec = importlib.util.spec_from_file_location("architecture", Path(__file__).with_name("test_architecture.py"))
    architecture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(architecture)
    APPLICATION = architecture.APPLICATION  # noqa: N806

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(d) for d in project["dependencies"]}
    app = core | {_name(d) for d in project["optional-dependencies"]["app"]}
    extras = core | {_name(d) for group in project["optional-dependencies"].values() for d in group}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for path in (ROOT / "bridge").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        level = app if name.startswith(APPLICATION) else core
        tree = ast.parse(path.read_text())
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module.split(".")[0]]
            else:
                continue
            allowed = extras if id(node) in nested else level
            for m in modules:
                if m in sys.stdlib_module_names or m == "bridge":
                    continue
                if not {_normal(d) for d in distributions.get(m, [])} & allowed:
                    undeclared[f"{path.relative_to(ROOT)}:{node.lineno}"] = m
    assert not undeclared, f"imported but not declared (module level: [project] dependencies): {undeclared}"


def _name(requirement: str) -> str:
    return _normal(re.split(r"[<>=!\[ ;]", requirement)[0])


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
