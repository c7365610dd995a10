"""Qiskit's circuit library through ``QuantumLayer.from_qiskit``: the parameterized feature maps and ansätze a QML
user builds models from, as classes (composite gates, BlueprintCircuits) and as functions, composed feature map +
ansatz, against ``qiskit.quantum_info.Statevector``.

Values: within 1e-8 of the Statevector expectation values. Gradients (vector-Jacobian products ``Σ v·f`` with a
random cotangent ``v``, for the inputs and the weights): against central differences of the Statevector values with
step ``h`` = :data:`FD_STEP`, within a tolerance derived from the step. A central difference errs by at most
``h²/6 · |f'''| + δ/h`` (truncation, and rounding of values accurate to ``δ``). Along one parameter ``p`` an
expectation value is a trigonometric polynomial of frequencies at most ``Ω = Σ_k |∂φ_k/∂p|`` over the angles ``φ_k``
(each a rotation or phase, of unit frequency) that ``p`` enters, so by Bernstein's inequality
``|f'''| ≤ Ω³ max|f| ≤ Ω³ ‖O‖``. Here ``Ω`` ≤ :data:`OMEGA` = 15 (the largest: a ZZ feature map on 3 qubits, where
``x₀`` enters ``P(2x₀)`` and two ``P(2(π − x₀)(π − x_j))``, ``x ∈ [0, 1]``: 2 + 4π) and ``‖O‖ ≤ Σ|c_i|`` = 1.4; with
``h = 1e-5`` and ``δ = 1e-14`` one derivative errs by ≤ 8e-8 (:data:`FD_ERROR`), and ``Σ v·∂f`` by that times
``Σ|v|`` (1e-7 to 5e-7 here).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, ParameterVector
from qiskit.circuit import library as lib
from qiskit.quantum_info import SparsePauliOp, Statevector

import bridge.layers.from_qiskit as from_qiskit
from bridge import QuantumLayer
from bridge.app.cli import main
from bridge.exceptions import BridgeError

VALUE_TOLERANCE = 1e-8
FD_STEP = 1e-5
OMEGA = 15.0  # the largest frequency of an expectation value along one parameter, in these cases (module doc)
NORM = 1.4  # the largest Σ|c_i| of the observables
ROUNDING = 1e-14  # absolute accuracy of a Statevector expectation value
FD_ERROR = FD_STEP**2 / 6 * OMEGA**3 * NORM + ROUNDING / FD_STEP  # one central difference: ≤ 7.9e-8
BATCH = 3

_COST = SparsePauliOp.from_list([("ZZ", 1.0), ("IZ", 0.5)])  # QAOA on 2 qubits
_EVOLVED = [SparsePauliOp("XYI"), SparsePauliOp.from_list([("ZIZ", 0.5), ("IZZ", 0.7)])]  # on 3 qubits

FEATURE_MAPS: dict[str, Callable[[int], QuantumCircuit]] = {
    "ZZFeatureMap": lambda n: lib.ZZFeatureMap(n, reps=1),
    "zz_feature_map": lambda n: lib.zz_feature_map(n, reps=1),
    "ZFeatureMap": lambda n: lib.ZFeatureMap(n, reps=1),
    "z_feature_map": lambda n: lib.z_feature_map(n, reps=1),
    "PauliFeatureMap": lambda n: lib.PauliFeatureMap(n, reps=1, paulis=["X", "ZY"]),
    "pauli_feature_map": lambda n: lib.pauli_feature_map(n, reps=1, paulis=["X", "ZY"]),
}
ANSATZE: dict[str, Callable[[int], QuantumCircuit]] = {
    "RealAmplitudes": lambda n: lib.RealAmplitudes(n, reps=1),
    "real_amplitudes": lambda n: lib.real_amplitudes(n, reps=1),
    "EfficientSU2": lambda n: lib.EfficientSU2(n, reps=1),
    "efficient_su2": lambda n: lib.efficient_su2(n, reps=1),
    "TwoLocal": lambda n: lib.TwoLocal(n, ["ry", "rz"], "crx", reps=1),
    "n_local": lambda n: lib.n_local(n, ["ry", "rz"], "crx", reps=1),
    "ExcitationPreserving": lambda n: lib.ExcitationPreserving(n, reps=1),
    "excitation_preserving": lambda n: lib.excitation_preserving(n, reps=1),
    "QAOAAnsatz": lambda n: lib.QAOAAnsatz(_COST, reps=1),
    "qaoa_ansatz": lambda n: lib.qaoa_ansatz(_COST, reps=1),
    "EvolvedOperatorAnsatz": lambda n: lib.EvolvedOperatorAnsatz(_EVOLVED, reps=1),
    "evolved_operator_ansatz": lambda n: lib.evolved_operator_ansatz(_EVOLVED, reps=1),
}
# (feature map, ansatz, qubits, profile): every entry at least once, classes with classes and functions with
# functions, one mixed pair, and one case on the exact Aer profile
CASES = [
    ("ZZFeatureMap", "RealAmplitudes", 2, "default"),
    ("zz_feature_map", "real_amplitudes", 2, "default"),
    ("ZFeatureMap", "EfficientSU2", 3, "default"),
    ("z_feature_map", "efficient_su2", 3, "default"),
    ("PauliFeatureMap", "TwoLocal", 2, "default"),
    ("pauli_feature_map", "n_local", 2, "default"),
    ("ZZFeatureMap", "ExcitationPreserving", 3, "default"),
    ("zz_feature_map", "excitation_preserving", 3, "default"),
    ("ZFeatureMap", "QAOAAnsatz", 2, "default"),
    ("z_feature_map", "qaoa_ansatz", 2, "default"),
    ("PauliFeatureMap", "EvolvedOperatorAnsatz", 3, "default"),
    ("pauli_feature_map", "evolved_operator_ansatz", 3, "default"),
    ("zz_feature_map", "RealAmplitudes", 3, "default"),
    ("ZZFeatureMap", "RealAmplitudes", 2, "aer"),
]


def _model(feature_map: str, ansatz: str, n: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the classes are deprecated in Qiskit 2.1
        features, weights = FEATURE_MAPS[feature_map](n), ANSATZE[ansatz](n)
    circuit = features.compose(weights)
    observables = [
        SparsePauliOp("I" * (n - 1) + "Z"),
        SparsePauliOp.from_list([("Y" + "I" * (n - 2) + "X", 0.6), ("Z" * n, -0.8)]),
    ]
    return circuit, list(features.parameters), list(weights.parameters), observables


def _statevector(circuit, inputs, weights, observables, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """⟨O_m⟩ per row of ``x`` (``(rows, n_inputs)``) by Qiskit's Statevector of the original circuit."""
    out = []
    for row in x:
        bound = circuit.assign_parameters(dict(zip([*inputs, *weights], [*row, *w], strict=True)))
        state = Statevector(bound)
        out.append([state.expectation_value(o).real for o in observables])
    return np.asarray(out)


def _fd_vjp(f: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, w: np.ndarray, v: np.ndarray):
    """Central differences of ``Σ v·f(x, w)``: gradients for ``x`` (per row) and ``w``."""
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += FD_STEP
        minus[index] -= FD_STEP
        gx[index] = np.sum(v[index[0]] * (f(plus, w)[index[0]] - f(minus, w)[index[0]])) / (2 * FD_STEP)
    for k in range(len(w)):
        plus, minus = w.copy(), w.copy()
        plus[k] += FD_STEP
        minus[k] -= FD_STEP
        gw[k] = np.sum(v * (f(x, plus) - f(x, minus))) / (2 * FD_STEP)
    return gx, gw


@pytest.mark.parametrize("feature_map, ansatz, n, profile", CASES, ids=[f"{f}+{a}-{n}q-{p}" for f, a, n, p in CASES])
def test_a_library_model_matches_statevector_values_and_gradients(feature_map, ansatz, n, profile):
    circuit, inputs, weights, observables = _model(feature_map, ansatz, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a gate dropped with a warning is a failure, not a note
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = QuantumLayer.from_qiskit(
            circuit, inputs=inputs, weights=weights, observables=observables, profile=profile
        ).double()
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (BATCH, len(inputs)))
    w = rng.uniform(-np.pi, np.pi, len(weights))
    v = rng.normal(size=(BATCH, len(observables)))
    with torch.no_grad():
        layer.qlayer.qnode_weights["weights"].copy_(torch.tensor(w))

    def f(xx: np.ndarray, ww: np.ndarray) -> np.ndarray:
        return _statevector(circuit, inputs, weights, observables, xx, ww)

    want = f(x, w)
    want_gx, want_gw = _fd_vjp(f, x, w, v)
    for rows in (slice(None), 0):  # batched, then one unbatched sample
        layer.zero_grad()
        xt = torch.tensor(x[rows], requires_grad=True)
        out = layer(xt)
        assert out.shape == ((BATCH,) if rows != 0 else ()) + (len(observables),)
        assert np.abs(out.detach().numpy() - want[rows]).max() <= VALUE_TOLERANCE, (out, want[rows])
        (out * torch.tensor(v[rows])).sum().backward()
        gw_want = want_gw if rows != 0 else _fd_vjp(f, x[:1], w, v[:1])[1]
        x_tolerance = FD_ERROR * np.abs(v[rows]).sum(axis=-1, keepdims=rows != 0)  # per row: Σ_m |v_m|
        assert (np.abs(xt.grad.numpy() - want_gx[rows]) <= x_tolerance).all(), (xt.grad, want_gx[rows])
        got_gw = layer.qlayer.qnode_weights["weights"].grad.numpy()
        assert np.abs(got_gw - gw_want).max() <= FD_ERROR * np.abs(v[rows]).sum(), (got_gw, gw_want)


def _opaque_model(params: list) -> tuple:
    x, w = ParameterVector("x", 1), ParameterVector("w", 1)
    circuit = QuantumCircuit(2)
    circuit.ry(x[0], 0)
    circuit.append(Gate("mystery_gate", 2, [w[0]] if params else []), [0, 1])
    return circuit, x, w, [SparsePauliOp("ZI")]


@pytest.mark.parametrize("params", [True, False], ids=["parameterized", "fixed"])
def test_an_undecomposable_instruction_is_an_error_naming_it(params):
    circuit, x, w, observables = _opaque_model(params)
    if not params:
        circuit.ry(w[0], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # raised as the bridge's error, never as (or after) a warning
        with pytest.raises(BridgeError, match="mystery_gate"):
            QuantumLayer.from_qiskit(circuit, inputs=x, weights=w, observables=observables, profile="default")


def test_the_converters_dropped_gate_warning_is_an_error(monkeypatch):
    """Should a composite gate reach pennylane-qiskit's converter, its "not added to the template" warning is an
    error naming it, not a layer without the gate."""
    monkeypatch.setattr(from_qiskit, "_expanded", lambda circuit: circuit)
    circuit, inputs, weights, observables = _model("ZZFeatureMap", "RealAmplitudes", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(BridgeError, match="not supported by PennyLane") as caught:
            QuantumLayer.from_qiskit(circuit, inputs=inputs, weights=weights, observables=observables)
    assert "ZZFeatureMap" in str(caught.value) and "RealAmplitudes" in str(caught.value)


MODEL_FILE = """
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp

from bridge import QuantumLayer

features, ansatz = zz_feature_map(2, reps=1), real_amplitudes(2, reps=1)
layer = QuantumLayer.from_qiskit(
    features.compose(ansatz),
    inputs=list(features.parameters),
    weights=list(ansatz.parameters),
    observables=[SparsePauliOp("ZZ"), SparsePauliOp("IX")],
)
"""


def test_a_dropped_gate_fails_verify_against_the_original_circuit(tmp_path, monkeypatch, capsys):
    """``qml-bridge verify --model`` compares a ``from_qiskit`` layer with the original circuit run by
    ``bridge.reference`` (Qiskit alone): a conversion that loses a gate exits 1."""
    path = tmp_path / "qiskit_model.py"
    path.write_text(MODEL_FILE)
    assert main(["verify", "--model", f"{path}:layer", "--device", "default"]) == 0
    capsys.readouterr()
    original = from_qiskit._converted

    def dropping(plain, n_theta):
        operations = original(plain, n_theta)
        first_entangler = next(i for i, (op, _) in enumerate(operations) if op.name == "CNOT")
        return operations[:first_entangler] + operations[first_entangler + 1 :]

    monkeypatch.setattr(from_qiskit, "_converted", dropping)
    assert main(["verify", "--model", f"{path}:layer", "--device", "default"]) == 1
    out = capsys.readouterr().out
    assert "verification FAILED" in out
    assert any("reference (Aer)" in line and "FAIL" in line.upper() for line in out.splitlines()), out
