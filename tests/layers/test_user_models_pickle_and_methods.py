"""A user's own model, issue #24 points 4, 5 and 7, each reproduced.

4. a model whose circuit is a ``@qml.qnode``-decorated module-level function pickles whole (``torch.save``, a fresh
   process loads it) and deep-copies, with PennyLane's ``TorchLayer`` and with ``QuantumLayer``; a function that
   cannot be imported by name is refused with a message naming it and the fix;
5. ``diff_method="adjoint"``/``"backprop"`` on a user's QNode on ``bridge.qiskit`` name the methods that work;
7. what ``QuantumLayer`` fixes over PennyLane 0.45's ``TorchLayer`` (several measurements, expval + probs), pinned
   for the README's "Bring your own QNode" paragraph.
"""

from __future__ import annotations

import copy
import io
import json
import math
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pennylane as qml
import pytest
import torch

from bridge import QuantumLayer

README = Path(__file__).parents[2] / "README.md"
WORKING_METHODS = ('"device"', '"best"', '"parameter-shift"', '"finite-diff"', '"spsa"')

# ------------------------------------------------------------------ 4. whole-model pickling, decorated QNodes
MODULE = """
import pennylane as qml
import torch

from bridge import QuantumLayer

aer = qml.device("bridge.qiskit", wires=2, profile="aer")
default = qml.device("default.qubit", wires=2)


def _body(inputs, weights):
    qml.AngleEmbedding(inputs, wires=range(2))
    qml.BasicEntanglerLayers(weights, wires=range(2))
    return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))


@qml.qnode(aer)
def on_aer(inputs, weights):
    return _body(inputs, weights)


@qml.qnode(default)
def on_default(inputs, weights):
    return _body(inputs, weights)


@qml.transforms.merge_rotations
@qml.qnode(default)
def transformed(inputs, weights):
    return _body(inputs, weights)


def build(circuit, kind):
    torch.manual_seed(7)
    if kind == "TorchLayer":
        quantum = qml.qnn.TorchLayer(circuit, {"weights": (1, 2)})
    else:
        quantum = QuantumLayer(circuit, weight_shapes={"weights": (1, 2)})
    return torch.nn.Sequential(torch.nn.Linear(3, 2), quantum)
"""
CASES = [
    (circuit, kind) for circuit in ("on_aer", "on_default", "transformed") for kind in ("TorchLayer", "QuantumLayer")
]


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """``mymodel.py``, a real file module on ``sys.path`` (removed from ``sys.modules`` afterwards)."""
    (tmp_path / "mymodel.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mymodel", raising=False)
    import mymodel

    yield mymodel
    sys.modules.pop("mymodel", None)


def test_models_of_decorated_qnodes_load_in_a_fresh_process_with_identical_outputs(user_module, tmp_path):
    """PennyLane #2204 for ``@qml.qnode`` functions: every case saved here, loaded in one fresh interpreter."""
    x = torch.rand(4, 3)
    want = {}
    for circuit, kind in CASES:
        model = user_module.build(getattr(user_module, circuit), kind)
        torch.save(model, tmp_path / f"{circuit}-{kind}.pt")
        want[f"{circuit}-{kind}"] = model(x).tolist()
    torch.save(x, tmp_path / "x.pt")
    probe = textwrap.dedent(
        f"""
        import json, sys, torch
        from pathlib import Path
        folder = Path({str(tmp_path)!r})
        x = torch.load(folder / "x.pt")
        out = {{}}
        for case in {list(want)!r}:
            model = torch.load(folder / f"{{case}}.pt", weights_only=False)
            out[case] = model(x).tolist()
        print(json.dumps(out))
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for case, values in want.items():
        torch.testing.assert_close(torch.tensor(got[case]), torch.tensor(values), atol=0, rtol=0, msg=case)


@pytest.mark.parametrize(("circuit", "kind"), CASES)
def test_models_of_decorated_qnodes_round_trip_in_process_and_deepcopy(user_module, circuit, kind):
    model = user_module.build(getattr(user_module, circuit), kind)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    copied = copy.deepcopy(model)
    x = torch.rand(5, 3)
    y = model(x)
    for other in (loaded, copied):
        torch.testing.assert_close(other(x), y, atol=0, rtol=0)
        other(x).sum().backward()  # still trainable: gradients reach the quantum weights
        assert all(p.grad is not None for p in other.parameters())
    quantum = loaded[1].qlayer if kind == "QuantumLayer" else loaded[1]
    original = getattr(user_module, circuit)
    assert quantum.qnode.func is original.func or quantum.qnode.func.function is original.func
    assert quantum.qnode.device is not original.device  # the device was pickled too, not looked up
    assert quantum.qnode.device.name == original.device.name


def test_a_qnodes_settings_survive_pickling(user_module):
    """Diff method (a transform), shots, gradient options and the transforms applied to the QNode are kept."""
    settings = {"diff_method": qml.gradients.param_shift, "gradient_kwargs": {"shifts": [(0.5,)]}}
    qnode = qml.set_shots(user_module.transformed.update(**settings), shots=300)
    loaded = pickle.loads(pickle.dumps(qnode))
    assert loaded.diff_method is qml.gradients.param_shift and loaded.shots == qml.measurements.Shots(300)
    assert loaded.gradient_kwargs == {"shifts": [(0.5,)]} and loaded.execute_kwargs == qnode.execute_kwargs
    applied = [t.tape_transform for t in qnode.compile_pipeline]
    assert applied and [t.tape_transform for t in loaded.compile_pipeline] == applied
    assert loaded.__name__ == "transformed" and loaded.func is user_module.transformed.func
    assert loaded.update(diff_method="finite-diff").func is loaded.func  # QNode.update still works


def test_a_bridge_qiskit_device_keeps_its_settings_when_its_qnode_is_pickled():
    dev = qml.device("bridge.qiskit", wires=1, profile="aer-shots", seed=11)
    qnode = qml.QNode(_rx, dev)
    loaded = pickle.loads(pickle.dumps(qnode))
    assert loaded.device.settings.shots == dev.settings.shots and loaded.device.settings.seed == 11
    assert loaded.device.rng_state == dev.rng_state  # the device's own __reduce__: seeds continue where they were
    torch.testing.assert_close(loaded(torch.tensor(0.4)), qnode(torch.tensor(0.4)), atol=0, rtol=0)


def test_a_qnode_on_a_legacy_plugin_device_pickles():
    """pennylane-qiskit's ``qiskit.aer`` sits behind PennyLane's ``LegacyDeviceFacade``, which recursed when
    unpickled."""
    qnode = qml.QNode(_rx, qml.device("qiskit.aer", wires=1))
    loaded = pickle.loads(pickle.dumps(qnode))
    assert loaded.device.name == qnode.device.name and loaded.device is not qnode.device
    assert loaded.device.shots == qnode.device.shots  # the plugin's 1024 by default: ⟨Z⟩ within 5σ ≈ 0.06
    assert abs(float(loaded(torch.tensor(0.4))) - math.cos(0.4)) < 0.06


def _rx(x):
    qml.RX(x, wires=0)
    return qml.expval(qml.PauliZ(0))


def _local_qnode(kind):
    if kind == "lambda":
        return qml.QNode(lambda inputs: _rx(inputs[..., 0]), qml.device("default.qubit", wires=1)), "<lambda>"

    @qml.qnode(qml.device("default.qubit", wires=1))
    def local_circuit(inputs):
        return _rx(inputs[..., 0])

    return local_circuit, "local_circuit"


@pytest.mark.parametrize("layer", ["TorchLayer", "QuantumLayer"])
@pytest.mark.parametrize("kind", ["local", "lambda"])
def test_a_function_not_importable_by_name_is_refused_naming_it_and_the_fix(kind, layer):
    qnode, name = _local_qnode(kind)
    model = qml.qnn.TorchLayer(qnode, {}) if layer == "TorchLayer" else QuantumLayer(qnode, weight_shapes={})
    with pytest.raises(pickle.PicklingError, match=rf"(?is){name}.*define it at module level"):
        torch.save(model, io.BytesIO())
    x = torch.rand(3, 1)
    torch.testing.assert_close(copy.deepcopy(model)(x), model(x), atol=0, rtol=0)  # deepcopy needs no name


# ------------------------------------------------------------------ 5. diff methods bridge.qiskit cannot serve
@pytest.mark.parametrize("diff_method", ["adjoint", "backprop"])
@pytest.mark.parametrize(
    "path",
    ["QNode", "qml.qnode", "QNode.update", "TorchLayer", "QuantumLayer", "qml.execute"],
)
def test_unserved_diff_methods_on_a_users_qnode_name_the_methods_that_work(diff_method, path):
    dev = qml.device("bridge.qiskit", wires=1, profile="aer")
    x = torch.tensor([[0.3]], requires_grad=True)

    def run():
        if path == "QNode":
            return qml.QNode(_rx, dev, diff_method=diff_method)(x[0, 0])
        if path == "qml.qnode":
            return qml.qnode(dev, diff_method=diff_method)(_rx)(x[0, 0])
        if path == "QNode.update":
            return qml.QNode(_rx, dev).update(diff_method=diff_method)(x[0, 0])
        if path == "TorchLayer":
            return qml.qnn.TorchLayer(qml.QNode(lambda inputs: _rx(inputs[..., 0]), dev, diff_method=diff_method), {})(
                x
            )
        if path == "QuantumLayer":
            circuit = qml.QNode(lambda inputs: _rx(inputs[..., 0]), dev, diff_method=diff_method)
            return QuantumLayer(circuit, weight_shapes={})(x)
        tape = qml.tape.QuantumScript([qml.RX(x[0, 0], 0)], [qml.expval(qml.PauliZ(0))])
        return qml.execute([tape], dev, diff_method=diff_method)

    with pytest.raises(qml.exceptions.QuantumFunctionError) as error:
        run()
    message = str(error.value)
    assert f"bridge.qiskit does not support {diff_method}" in message, message
    assert all(m in message for m in WORKING_METHODS), message


@pytest.mark.parametrize("diff_method", ["adjoint", "backprop"])
def test_asked_whether_it_supports_them_the_device_still_answers_no(diff_method):
    """PennyLane's device suite asks ``supports_derivatives`` and skips on ``False``: no error there."""
    dev = qml.device("bridge.qiskit", wires=1, profile="aer")
    assert dev.supports_derivatives(qml.devices.ExecutionConfig(gradient_method=diff_method)) is False
    assert dev.supports_derivatives(execution_config=qml.devices.ExecutionConfig(gradient_method=diff_method)) is False


# ------------------------------------------------------------------ 7. what QuantumLayer fixes over TorchLayer
def _two_expvals(inputs, weights):
    qml.RX(inputs[..., 0], 0)
    qml.RY(inputs[..., 1] + weights[0], 1)
    return qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliZ(1))


def _expval_and_probs(inputs, weights):
    qml.RX(inputs[..., 0], 0)
    qml.RY(inputs[..., 1] + weights[0], 1)
    return qml.expval(qml.PauliZ(0)), qml.probs(wires=[0, 1])


@pytest.mark.parametrize("device", ["default.qubit", "bridge.qiskit"])
def test_pennylane_045_torchlayer_shapes_and_what_quantumlayer_returns(device):
    """The README's "Bring your own QNode" paragraph: PennyLane 0.45's TorchLayer returns several expvals as
    ``(n_meas, batch, 1)`` and cannot stack expval + probs; QuantumLayer returns ``(batch, Σ sizes)``. When a
    PennyLane release fixes TorchLayer, the first half fails: update the README's sentence."""
    dev = qml.device(device, wires=2, **({"profile": "aer"} if device == "bridge.qiskit" else {}))
    x = torch.rand(5, 2)
    assert qml.qnn.TorchLayer(qml.QNode(_two_expvals, dev), {"weights": (1,)})(x).shape == (2, 5, 1)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        qml.qnn.TorchLayer(qml.QNode(_expval_and_probs, dev), {"weights": (1,)})(x)
    assert QuantumLayer(qml.QNode(_two_expvals, dev), weight_shapes={"weights": (1,)})(x).shape == (5, 2)
    layer = QuantumLayer(qml.QNode(_expval_and_probs, dev), weight_shapes={"weights": (1,)})
    y = layer(x)
    assert y.shape == (5, 5)
    torch.testing.assert_close(y[:, 1:].sum(-1), torch.ones(5), atol=1e-6, rtol=0)
    section = README.read_text().split("## Bring your own QNode")[1].split("\n## ")[0]
    assert "`(2, 5, 1)`" in section and "`(5, 2)` and `(5, 5)`" in section  # the numbers the README gives
