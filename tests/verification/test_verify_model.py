"""Verifying a user's own model: every example's layer, a user-style QNode file, Qiskit-born layers, faults injected
into the path being checked, and the shot tolerance on observables that are not ±1-valued."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp

import bridge.layers.from_qiskit as from_qiskit
from bridge import QuantumLayer
from bridge.app.cli import main
from bridge.exceptions import InputError
from bridge.qiskit import shift, structure
from bridge.verification import format_row, verify_model

EXAMPLES = ["calculator", "fashion", "hello", "meta", "mnist01", "mnist10", "mnist3", "mnist37", "qaoa"]

USER_FILE = """
import pennylane as qml

dev = qml.device("bridge.qiskit", wires=3, profile="aer")


@qml.qnode(dev)
def circuit(inputs, weights, extra):
    qml.AngleEmbedding(inputs, wires=range(3), rotation="Y")
    qml.StronglyEntanglingLayers(weights, wires=range(3))
    qml.IQPEmbedding(inputs, wires=range(3))
    qml.CRX(extra[0], wires=[0, 2])
    return (
        qml.expval(qml.Z(0) @ qml.X(1)),
        qml.probs(wires=[1, 2]),
        qml.var(qml.Y(2)),
        qml.expval(qml.Hermitian([[1, 0.5], [0.5, -2]], wires=0)),
    )


layer = qml.qnn.TorchLayer(circuit, {"weights": (2, 3, 3), "extra": (1,)})
"""


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user_model.py"
    path.write_text(textwrap.dedent(USER_FILE))
    return path


def _rows(rows):
    return {r.engine: r for r in rows}


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_layer_verifies_from_the_cli(name, capsys):
    assert main(["verify", "--model", f"examples/{name}.py:quantum_layer"]) == 0
    out = capsys.readouterr().out
    for engine in ("finite-diff", "reference (Aer)", "default", "fast", "aer", "aer-shots"):
        assert f"| {engine} vs truth |" in out
    assert "verification: all 6 comparisons within tolerance" in out


def test_a_user_file_with_pennylane_templates_verifies_against_three_implementations(user_file, capsys, tmp_path):
    report = tmp_path / "report.json"
    assert main(["verify", "--model", f"{user_file}:layer", "--against", "qiskit-ml", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "| circuit | qiskit-ml vs truth |" in out and "| circuit | as given (bridge.qiskit) vs truth |" in out
    assert '"passed": true' in report.read_text()


def _flip_cnot_wires(original):
    def broken(circuit, qreg, op, args):
        if op.name == "CNOT":
            op = qml.CNOT(wires=op.wires[::-1])
        original(circuit, qreg, op, args)

    return broken


def _flip_ry_sign(original):
    def broken(circuit, qreg, op, args):
        original(circuit, qreg, op, [-a for a in args] if op.name == "RY" else args)

    return broken


def _doubled_shift_rule(original):
    def broken(tape, base):
        plan = original(tape, base)
        return dataclasses.replace(plan, terms=tuple(tuple((b, 2 * c) for b, c in t) for t in plan.terms))

    return broken


def _dropped_input(original):
    def broken(tape):
        values = original(tape)
        values.values[:, 0] = 0.0  # the first angle (an input of AngleEmbedding) is never bound
        return values

    return broken


FAULTS = {
    "gradient missing its 1/2": (shift, "shift_plan", _doubled_shift_rule, {"weight grads", "input grads"}),
    "CNOT wires swapped": (structure, "_append", _flip_cnot_wires, {"values"}),
    "RY angle sign flipped": (structure, "_append", _flip_ry_sign, {"values"}),
    "input binding dropped": (structure, "tape_values", _dropped_input, {"values"}),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_in_the_device_path_fails_on_a_user_model(fault, user_file, monkeypatch):
    from bridge.verification import load_model

    module, name, breaker, wrong = FAULTS[fault]
    if name == "shift_plan":  # fused.py holds its own reference to the function
        import bridge.qiskit.fused as fused

        monkeypatch.setattr(fused, name, breaker(getattr(fused, name)))
    elif name == "tape_values":
        import bridge.qiskit.fused as fused

        monkeypatch.setattr(fused, name, breaker(getattr(fused, name)))
    monkeypatch.setattr(module, name, breaker(getattr(module, name)))
    rows = _rows(verify_model(load_model(f"{user_file}:layer"), ("default", "aer", "aer-shots")))
    assert rows["default"].passed and rows["reference (Aer)"].passed and rows["finite-diff"].passed
    for engine in ("aer", "as given (bridge.qiskit)", "aer-shots"):
        assert not rows[engine].passed, (fault, engine)
    maxima = {"values": rows["aer"].values, "weight grads": rows["aer"].weight_grads}
    maxima["input grads"] = rows["aer"].input_grads
    assert {q for q, m in maxima.items() if m > 1e-3} >= wrong


# ------------------------------------------------------------------ models born in Qiskit
def _feature_map_model():
    features = zz_feature_map(2, reps=1)
    ansatz = real_amplitudes(2, reps=1)
    circuit = features.compose(ansatz)
    observables = [SparsePauliOp.from_list([("ZZ", 1.0)]), SparsePauliOp.from_list([("XI", 0.5), ("IZ", -1.5)])]
    return circuit, list(features.parameters), list(ansatz.parameters), observables


def _expression_model():
    x, w = ParameterVector("x", 2), ParameterVector("w", 3)
    circuit = QuantumCircuit(2)
    circuit.ry(x[0] + w[0], 0)
    circuit.rx(2 * x[1] - w[1], 1)
    circuit.cx(0, 1)
    circuit.rz(0.5 * w[2] * x[0], 1)
    circuit.crx(w[0] - 3 * w[1], 1, 0)
    circuit.ry(-w[2], 0)
    observables = [SparsePauliOp.from_list([("XZ", 0.7), ("YY", -0.2)]), SparsePauliOp("ZI")]
    return circuit, x, w, observables


QISKIT_MODELS = {"zz_feature_map + real_amplitudes": _feature_map_model, "hand-written expressions": _expression_model}


@pytest.mark.parametrize("make", QISKIT_MODELS.values(), ids=QISKIT_MODELS)
def test_a_qiskit_born_layer_verifies_against_its_original_circuit(make):
    circuit, inputs, weights, observables = make()
    layer = QuantumLayer.from_qiskit(circuit, inputs=inputs, weights=weights, observables=observables)
    rows = verify_model(layer, against=("qiskit-ml",))
    assert {"reference (Aer)", "qiskit-ml", "default", "aer", "aer-shots"} <= set(_rows(rows))
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.parametrize("profile", ["aer", "default"])
@pytest.mark.parametrize("make", QISKIT_MODELS.values(), ids=QISKIT_MODELS)
def test_a_qiskit_born_layer_trains(make, profile):
    circuit, inputs, weights, observables = make()
    torch.manual_seed(0)
    layer = QuantumLayer.from_qiskit(circuit, inputs=inputs, weights=weights, observables=observables, profile=profile)
    x = torch.rand(16, len(inputs), dtype=torch.float64) * np.pi
    target = torch.full((16, len(observables)), 0.3, dtype=torch.float64)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = ((layer(x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def _reversed_wires(original):
    def broken(plain, n_theta):
        n = plain.num_qubits
        return [(qml.map_wires(op, {w: n - 1 - w for w in range(n)}), slots) for op, slots in original(plain, n_theta)]

    return broken


def _negated_first_angle(original):
    def broken(circuit, parameters):
        plain, angles = original(circuit, parameters)
        first = angles[0]
        return plain, [lambda *v: -first(*v), *angles[1:]]

    return broken


@pytest.mark.parametrize(
    "name, breaker",
    [("_converted", _reversed_wires), ("_plain_angles", _negated_first_angle)],
    ids=["qubit order", "sign"],
)
def test_a_wrong_conversion_is_caught_against_the_original_circuit(name, breaker, monkeypatch):
    monkeypatch.setattr(from_qiskit, name, breaker(getattr(from_qiskit, name)))
    circuit, inputs, weights, observables = _expression_model()
    layer = QuantumLayer.from_qiskit(circuit, inputs=inputs, weights=weights, observables=observables)
    rows = _rows(verify_model(layer, ("aer",)))
    assert not rows["reference (Aer)"].passed
    assert rows["reference (Aer)"].values > 1e-3
    assert rows["aer"].passed  # the bridge runs the (wrong) conversion faithfully: only the original disagrees


class _MatrixOnly(qml.operation.Operation):
    """A user's gate known only by its matrix (no decomposition): nothing can translate it gate by gate."""

    num_wires = 1
    num_params = 1
    grad_method = "F"

    @staticmethod
    def compute_matrix(theta):
        c, s = qml.math.cos(theta / 2), qml.math.sin(theta / 2)
        return qml.math.stack([qml.math.stack([c, -1j * s]), qml.math.stack([-1j * s, c])])


def test_a_model_the_translation_cannot_cover_is_reported_not_skipped():
    dev = qml.device("default.qubit", wires=2)

    @qml.qnode(dev)
    def circuit(inputs, weights):
        qml.RY(inputs[..., 0], wires=0)
        _MatrixOnly(weights[0], wires=0)
        return [qml.expval(qml.Z(0))]

    rows = _rows(verify_model(circuit, ("default",), weight_shapes={"weights": 1}, n_inputs=1))
    assert not rows["reference (Aer)"].passed and "_MatrixOnly" in rows["reference (Aer)"].not_checked
    assert "NOT CHECKED" in format_row(rows["reference (Aer)"])


def test_a_tolerance_can_only_tighten(user_file):
    with pytest.raises(InputError, match="only tighten"):
        verify_model(lambda: None, tolerance=1e-3)


def test_cli_errors_name_the_fix(user_file, capsys):
    assert main(["verify", "--model", f"{user_file}:nothing"]) == 2
    assert "has no 'nothing'; it defines" in capsys.readouterr().err
    assert main(["verify", "--model", "missing.py:layer"]) == 2
    assert "FILE.py:NAME with an existing file" in capsys.readouterr().err
    assert main(["verify", "--tolerance", "1e-9"]) == 2
    assert "apply only with --model" in capsys.readouterr().err
    assert main(["verify", "--model", f"{user_file}:layer", "--json", str(user_file.parent)]) == 2
    assert "is a folder" in capsys.readouterr().err


# ------------------------------------------------------------------ the shot tolerance
def _coefficient_model():
    dev = qml.device("default.qubit", wires=2)

    @qml.qnode(dev)
    def circuit(inputs, weights):
        qml.RY(inputs[..., 0], wires=0)
        qml.RX(weights[0], wires=1)
        qml.CNOT(wires=[0, 1])
        qml.RY(weights[1], wires=0)
        return [
            qml.expval(2.5 * qml.Z(0) @ qml.Z(1) - 0.7 * qml.X(0)),
            qml.expval(qml.Hermitian(np.array([[3.0, 1.0], [1.0, -1.0]]), wires=1)),
        ]

    return circuit


SEEDS = 40


def test_a_correct_model_passes_at_5_sigma_in_at_least_95_percent_of_seeds():
    model = _coefficient_model()
    passed = [
        _rows(verify_model(model, ("aer-shots",), seed=s, weight_shapes={"weights": 2}, n_inputs=1))["aer-shots"].passed
        for s in range(SEEDS)
    ]
    assert sum(passed) >= 0.95 * SEEDS, passed


def test_a_biased_model_fails_at_5_sigma(monkeypatch):
    """Counts read from probabilities with 20% moved to |0…0⟩ (p → 0.8·p + 0.2·δ₀): the Hermitian's value moves by
    0.75–0.9, about 11σ of one output at 1024 shots (σ ≈ 0.07, measured with seeds 0 and 1): every seed fails, while
    the same model unbiased stays within 2.1σ."""
    import bridge.qiskit.primitives as primitives

    original = primitives.sample_counts

    def biased(probabilities, shots, rng):
        moved = 0.8 * np.asarray(probabilities)
        moved[..., 0] += 0.2
        return original(moved, shots, rng)

    monkeypatch.setattr(primitives, "sample_counts", biased)
    model = _coefficient_model()
    failed = [
        not _rows(verify_model(model, ("aer-shots",), seed=s, weight_shapes={"weights": 2}, n_inputs=1))[
            "aer-shots"
        ].passed
        for s in range(10)
    ]
    assert all(failed), failed
