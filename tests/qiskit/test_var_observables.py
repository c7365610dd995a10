"""``qml.var`` of Pauli sums on ``bridge.qiskit``, batched and not, torch and NumPy inputs, with and without
gradients: in particular observables whose square is a multiple of the identity (pairwise anticommuting terms,
``O² = Σ c_i² · I``), which crashed batched torch calls with shots.

With shots, ``var(O)`` is estimated as ``⟨O²⟩ − Ŝ²`` (``bridge.qiskit.transforms.variance_of_sums``), ``Ŝ`` the
estimate of ``⟨O⟩``. For these observables ``⟨O²⟩ = Σ c_i²`` exactly, and no two terms commute qubit-wise, so each
term ``c_i P_i`` is sampled from its own ``N`` shots: ``Ŝ = Σ_i c_i · (mean of N outcomes ±1 of P_i)``, a sum of
independent scaled binomial means whose cumulants are known exactly (a ±1 outcome of mean ``m`` has cumulants
``κ₂ = 1 − m²``, ``κ₃ = −2m(1 − m²)``, ``κ₄ = (1 − m²)(6m² − 2)``; a mean of ``N`` divides ``κ_r`` by ``N^{r−1}``).
So the estimator ``V̂ = Σc_i² − Ŝ²`` has mean ``var(O) − κ₂(Ŝ)`` and variance
``4μ²κ₂ + 4μκ₃ + 2κ₂² + κ₄`` (``μ = ⟨O⟩``), both exact; a value passes within :data:`K_SIGMA` σ of that mean.
The gradient ``−2 Ŝ D̂`` (``D̂`` the device's two-term shift estimate of ``∂⟨O⟩/∂x`` from its own shifted circuits,
independent of ``Ŝ``) has mean ``−2μ ∂μ`` and variance ``4[(μ² + κ₂(Ŝ))(∂μ² + κ₂(D̂)) − μ² ∂μ²]``, with
``κ₂(D̂) = Σ_i c_i² [(1 − m_i⁺²) + (1 − m_i⁻²)] / 4N``. Exact values come from ``default.qubit``; on the exact
profile ``aer`` values and gradients agree within 1e-10.
"""

from __future__ import annotations

import operator
from functools import reduce

import numpy as np
import pennylane as qml
import pytest
import torch

from bridge.profiles import load_profile

K_SIGMA = 5.0
EXACT_TOLERANCE = 1e-10
X = [0.3, 1.2, 2.5]  # the batch; the unbatched cases take X[1]

# (label, terms (coefficient, Pauli word, wires)): each square is Σ c_i² · I except the last (2·I + 2·Z₀Z₁)
OBSERVABLES = {
    "0.5 Z0 + 0.8 X0": [(0.5, "Z", [0]), (0.8, "X", [0])],
    "0.3 X0 Z1 - 0.7 Y0": [(0.3, "XZ", [0, 1]), (-0.7, "Y", [0])],
    "0.4 Z0 X1 + 0.6 Z0 Y1 - 0.5 X0": [(0.4, "ZX", [0, 1]), (0.6, "ZY", [0, 1]), (-0.5, "X", [0])],
    "Z0 + Z1": [(1.0, "Z", [0]), (1.0, "Z", [1])],
}
IDENTITY_SQUARES = [label for label in OBSERVABLES if label != "Z0 + Z1"]


def _terms(label: str) -> list[tuple[float, qml.operation.Operator]]:
    return [
        (c, reduce(operator.matmul, [getattr(qml, p)(w) for p, w in zip(word, wires, strict=True)]))
        for c, word, wires in OBSERVABLES[label]
    ]


def _observable(label: str) -> qml.operation.Operator:
    """``Σ c_i P_i`` as a user writes it: ``0.5 * qml.Z(0) + 0.8 * qml.X(0)``."""
    return qml.sum(*[c * p for c, p in _terms(label)])


def _gates(x):
    qml.RX(0.4, wires=0)
    qml.RY(0.7, wires=1)
    qml.CNOT(wires=[1, 0])
    qml.RY(x, wires=0)  # x enters this one gate: its derivative is one two-term shift


def _qnode(device, measure, **options):
    def circuit(x):
        _gates(x)
        return measure()

    return qml.QNode(circuit, device, **options)


def _exact(label: str, x: float) -> dict[str, float]:
    """Exact ⟨O⟩, ∂⟨O⟩/∂x, var(O), d var/dx (backprop), and per term ``m_i = ⟨P_i⟩`` at x and x ± π/2 (default.qubit)."""
    dev = qml.device("default.qubit", wires=2)
    terms = _terms(label)
    means = _qnode(dev, lambda: [qml.expval(p) for _, p in terms])
    m = np.asarray(means(x))
    plus, minus = np.asarray(means(x + np.pi / 2)), np.asarray(means(x - np.pi / 2))
    c = np.asarray([c for c, _ in terms])
    mu, d_mu = float(c @ m), float(c @ (plus - minus) / 2)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    var = _qnode(dev, lambda: qml.var(_observable(label)), diff_method="backprop")(xt)
    var.backward()
    return {
        "m": m,
        "plus": plus,
        "minus": minus,
        "c": c,
        "mu": mu,
        "d_mu": d_mu,
        "var": float(var.detach()),
        "d_var": float(xt.grad),
    }


def _value_bounds(e: dict, shots: int) -> tuple[float, float]:
    """Mean and σ of V̂ = Σc² − Ŝ² (module doc)."""
    c, m, n = e["c"], e["m"], shots
    k2 = float(np.sum(c**2 * (1 - m**2)) / n)
    k3 = float(np.sum(c**3 * (-2 * m * (1 - m**2))) / n**2)
    k4 = float(np.sum(c**4 * (1 - m**2) * (6 * m**2 - 2)) / n**3)
    mu = e["mu"]
    return e["var"] - k2, float(np.sqrt(4 * mu**2 * k2 + 4 * mu * k3 + 2 * k2**2 + k4))


def _gradient_bounds(e: dict, shots: int) -> tuple[float, float]:
    """Mean and σ of −2 Ŝ D̂ (module doc)."""
    c, n = e["c"], shots
    k2_s = float(np.sum(c**2 * (1 - e["m"] ** 2)) / n)
    k2_d = float(np.sum(c**2 * ((1 - e["plus"] ** 2) + (1 - e["minus"] ** 2))) / (4 * n))
    mu, d_mu = e["mu"], e["d_mu"]
    return e["d_var"], float(2 * np.sqrt((mu**2 + k2_s) * (d_mu**2 + k2_d) - mu**2 * d_mu**2))


INPUTS = {
    "torch batched": lambda: torch.tensor(X, dtype=torch.float64),
    "torch unbatched": lambda: torch.tensor(X[1], dtype=torch.float64),
    "torch batched, gradients": lambda: torch.tensor(X, dtype=torch.float64, requires_grad=True),
    "torch unbatched, gradients": lambda: torch.tensor(X[1], dtype=torch.float64, requires_grad=True),
    "numpy batched": lambda: np.asarray(X),
    "numpy unbatched": lambda: np.float64(X[1]),
}


def _run(profile: str, label: str, kind: str):
    dev = qml.device("bridge.qiskit", wires=2, profile=profile)
    x = INPUTS[kind]()
    out = _qnode(dev, lambda: qml.var(_observable(label)))(x)
    xs = np.atleast_1d(np.asarray(x.detach() if isinstance(x, torch.Tensor) else x, dtype=float))
    values = np.atleast_1d(np.asarray(out.detach() if isinstance(out, torch.Tensor) else out, dtype=float))
    assert values.shape == xs.shape
    grads = None
    if isinstance(x, torch.Tensor) and x.requires_grad:
        out.sum().backward()  # rows are independent: each row's d var/dx
        grads = np.atleast_1d(x.grad.numpy())
    return xs, values, grads


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("label", IDENTITY_SQUARES)
def test_a_variance_with_shots_is_within_k_sigma_of_its_estimator(label, kind):
    shots = load_profile("aer-shots").shots
    xs, values, grads = _run("aer-shots", label, kind)
    for i, x in enumerate(xs):
        e = _exact(label, float(x))
        mean, sigma = _value_bounds(e, shots)
        assert abs(values[i] - mean) <= K_SIGMA * sigma, (x, values[i], mean, sigma)
        if grads is not None:
            mean, sigma = _gradient_bounds(e, shots)
            assert abs(grads[i] - mean) <= K_SIGMA * sigma, (x, grads[i], mean, sigma)


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("label", OBSERVABLES)
def test_a_variance_on_the_exact_profile_is_exact(label, kind):
    xs, values, grads = _run("aer", label, kind)
    for i, x in enumerate(xs):
        e = _exact(label, float(x))
        assert abs(values[i] - e["var"]) <= EXACT_TOLERANCE, (x, values[i], e["var"])
        if grads is not None:
            assert abs(grads[i] - e["d_var"]) <= EXACT_TOLERANCE, (x, grads[i], e["d_var"])


def test_the_estimators_spread_is_what_the_shots_give():
    """The σ of the value estimator is not a loose bound: over independent seeds, the spread of V̂ matches it."""
    label, x, shots = "0.5 Z0 + 0.8 X0", X[1], load_profile("aer-shots").shots
    dev = qml.device("bridge.qiskit", wires=2, profile="aer-shots")
    draws = np.asarray(_qnode(dev, lambda: qml.var(_observable(label)))(torch.full((400,), x, dtype=torch.float64)))
    mean, sigma = _value_bounds(_exact(label, x), shots)
    assert abs(draws.mean() - mean) <= K_SIGMA * sigma / np.sqrt(len(draws))
    assert 0.85 < draws.std(ddof=1) / sigma < 1.15  # the sample σ of 400 draws errs by ≈ 3.5 %
