"""The architecture of ARCHITECTURE.md, checked: two layers in one direction, no import circle, small parts."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "bridge"
APPLICATION = "bridge.app"  # the application layer is a folder: everything under it, nothing else
MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 150


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The bridge modules a module imports anywhere in it (lazy imports inside functions included)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # "from package import submodule" imports the submodule; names that are not modules come from base
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            targets = submodules + ([base] if len(submodules) < len(node.names) else [])
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "bridge":
                found.add(target)
    return found


def test_the_import_contracts_hold():
    """import-linter, configured in pyproject.toml: one layers contract by folder (bridge.app above the rest of
    bridge, every module placed), only bridge.app imports torchvision, matplotlib or tqdm, and the reference never
    imports PennyLane or the PennyLane path."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import bridge.qiskit",
        "import bridge; bridge.QuantumLayer; bridge.device; bridge.circuits; bridge.load_profile",
        "from bridge import device; device('aer', 2)",
        "import bridge.verification.library, bridge.verification.shot_noise, bridge.reference",
    ],
)
def test_the_library_loads_no_application_module_in_a_fresh_interpreter(code):
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    # torchvision only: Qiskit itself imports matplotlib when it is installed (import-linter checks our imports)
    leaked = [m for m in loaded if m.startswith(APPLICATION) or m.split(".")[0] == "torchvision"]
    assert not leaked, leaked


def test_no_import_circle_among_bridge_modules():
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, circles


def _code_lines(tree: ast.AST, source: list[str], first: int, last: int) -> int:
    """Lines of code in ``first..last`` (1-based): not blank, not a comment, not part of a docstring."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            head = node.body[0]
            if (
                isinstance(head, ast.Expr)
                and isinstance(head.value, ast.Constant)
                and isinstance(head.value.value, str)
            ):
                docstrings.update(range(head.lineno, head.end_lineno + 1))
    return sum(
        1
        for n in range(first, last + 1)
        if n not in docstrings and source[n - 1].strip() and not source[n - 1].strip().startswith("#")
    )


def test_modules_and_classes_stay_small():
    """At most 300 lines of code a module and 150 a class (ruff format puts long signatures one argument a line,
    so blank lines, comments and docstrings are not counted)."""
    too_long = []
    for name, path in _modules().items():
        text = path.read_text()
        source, tree = text.splitlines(), ast.parse(text)
        lines = _code_lines(tree, source, 1, len(source))
        if lines > MAX_MODULE_LINES:
            too_long.append(f"module {name}: {lines} lines of code")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                size = _code_lines(tree, source, node.lineno, node.end_lineno)
                if size > MAX_CLASS_LINES:
                    too_long.append(f"class {name}.{node.name}: {size} lines of code")
    assert not too_long, too_long
