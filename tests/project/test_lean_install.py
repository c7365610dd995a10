"""The library without the application's packages (issue #25): ``pip install -e .`` leaves torchvision, matplotlib
and tqdm out; a user's QNode on ``bridge.qiskit`` in a ``TorchLayer`` still trains, ``QuantumLayer``,
``from_qiskit`` and verification still work, and ``qml-bridge train`` stops with exit 2 naming the extra.

The packages are made absent in a fresh interpreter by an import hook that refuses them (the same
``ModuleNotFoundError`` an environment without them raises); a fresh virtual environment installed with
``pip install -c constraints.txt -e .`` was checked by hand the same way (see the closing note of #25).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABSENT = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torchvision", "matplotlib", "tqdm"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Absent())
import importlib.util
def _find_spec(name, package=None, _real=importlib.util.find_spec):
    return None if name.split(".")[0] in {"torchvision", "matplotlib", "tqdm"} else _real(name, package)
importlib.util.find_spec = _find_spec
"""

TRAIN = """
import pennylane as qml
import torch

dev = qml.device("bridge.qiskit", wires=2, profile="aer")


@qml.qnode(dev)
def circuit(inputs, weights):
    qml.AngleEmbedding(inputs, wires=range(2))
    qml.BasicEntanglerLayers(weights, wires=range(2))
    return [qml.expval(qml.Z(0)), qml.expval(qml.Z(1))]


torch.manual_seed(0)
layer = qml.qnn.TorchLayer(circuit, {"weights": (2, 2)})
optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
x = torch.rand(8, 2)
losses = []
for _ in range(15):
    optimizer.zero_grad()
    loss = (layer(x) - 1.0).pow(2).mean()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
assert losses[-1] < 0.6 * losses[0], losses  # a layer whose gradients do not arrive stays put

from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp
from bridge import QuantumLayer, circuits
from bridge.verification import verify_model

fm, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
qlayer = QuantumLayer.from_qiskit(
    fm.compose(ansatz), inputs=fm.parameters, weights=ansatz.parameters, observables=[SparsePauliOp("ZZ")], profile="aer"
)
assert qlayer(torch.rand(3, 2)).shape == (3, 1)
assert QuantumLayer(circuits.angle_entangling(2, 1), profile="aer")(torch.rand(3, 2)).shape == (3, 2)
assert all(r.passed for r in verify_model(layer, ("aer",)))
assert not [m for m in sys.modules if m.split(".")[0] in {"torchvision", "matplotlib", "tqdm"}]
print("lean ok")
"""


def test_the_library_trains_and_verifies_without_the_app_extra():
    done = subprocess.run([sys.executable, "-c", ABSENT + TRAIN], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0 and "lean ok" in done.stdout, done.stderr[-3000:]


def test_the_cli_without_the_app_extra_names_it():
    code = ABSENT + "from bridge.app.cli import main\nsys.exit(main(['train', 'mnist01', '--epochs', '1']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "pip install 'qml-bridge[app]'" in lines[0] and "torchvision" in lines[0]


def test_version_is_written_once():
    import importlib.metadata
    import tomllib

    import bridge

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("qml-bridge") == bridge.__version__
    done = subprocess.run([sys.executable, "-m", "bridge", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == f"qml-bridge {bridge.__version__}"
