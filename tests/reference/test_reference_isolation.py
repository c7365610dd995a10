"""The reference implementation must not depend on PennyLane."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bridge.reference

REFERENCE = Path(bridge.reference.__file__).parent


def test_reference_sources_never_import_pennylane_or_the_pennylane_path():
    for path in REFERENCE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(
                    (
                        "pennylane",
                        "bridge.layers",
                        "bridge.circuits",
                        "bridge.backends",
                        "bridge.device_factory",
                        "bridge.qiskit",
                    )
                ), f"{path.name}: {name}"


def test_importing_the_reference_loads_no_pennylane():
    code = "import sys, bridge.reference, bridge.reference.random_circuits; print('pennylane' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
