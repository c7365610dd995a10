"""Cross-framework verification: the PennyLane path on a profile against an independent Qiskit reference,
exact ground truth and finite differences, for values, weight gradients and input gradients.

For a model and seeded inputs ``x (batch, n_inputs)``, weights ``w`` and a random cotangent ``v (batch,
n_outputs)``, each engine gives the outputs ``y``, ``∂(v·y)/∂w`` and ``∂(v·y)/∂x``:

* ``truth``: ``default.qubit`` with backprop (float64), the ground truth;
* the bridge's path (:func:`bridge.qnodes.make_qnode`) on each profile;
* ``reference``: :class:`bridge.reference.ReferenceQNN` on Aer's ``EstimatorV2``, built from the model's
  independent Qiskit construction;
* ``finite-diff``: central differences of the truth (step 1e-6), a sanity check of the truth itself.

Tolerances: 1e-8 for exact engines; for shot-based profiles 5σ per element, σ from the shot count N:
``√((1 − ⟨Z⟩²)/N)`` for a value, and for a gradient the two-term shift estimator's
``σ² ≤ Σ_rows Σ_k (∂φ_k/∂p)² (Σ_m |v_m|)² / (2N)`` over the Pauli-rotation occurrences φ_k of the
parameter (the reference's decomposition of the circuit); finite differences: 1e-6 (their truncation
and rounding error at step 1e-6 is below 1e-9 for these circuits). A noisy profile's shots are compared with the
exact noisy value instead (:mod:`bridge.noisy_truth`), σ from its values; each row names its truth.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pennylane as qml
import torch

from bridge import circuits
from bridge.angle_chain import Engine, Outputs, noisy_engine
from bridge.circuits import CircuitSpec
from bridge.noisy_truth import EXACT, EXACT_NOISY, NotExact, noise_of
from bridge.profiles import Profile, load_profile
from bridge.qnodes import make_qnode
from bridge.reference import ReferenceQNN
from bridge.reference import models as qiskit_models
from bridge.reference.random_circuits import RandomCircuit, angle_value, random_circuit, to_qiskit
from bridge.translate import Untranslatable
from bridge.user_model import Model

EXACT_TOLERANCE = 1e-8
FD_TOLERANCE = 1e-6
FD_STEP = 1e-6
K_SIGMA = 5.0
DEFAULT_PROFILES = ("default", "lightning", "aer", "aer-shots")


@dataclass(frozen=True)
class Case:
    """A model on both sides: the PennyLane circuit and its independent Qiskit construction.

    ``weight_names`` gives the order in which the PennyLane weight tensors are flattened.
    """

    name: str
    spec: CircuitSpec
    model: qiskit_models.QiskitModel

    @property
    def weight_names(self) -> list[str]:
        return sorted(self.spec.weight_shapes)

    @property
    def n_weights(self) -> int:
        return sum(int(np.prod(s)) for s in self.spec.weight_shapes.values())

    def as_model(self) -> Model:
        """The model as :mod:`bridge.verify_model` sees a user's (its weights in :attr:`weight_names` order)."""
        shapes = {n: self.spec.weight_shapes[n] for n in self.weight_names}
        return Model(self.name, self.spec.qfunc, shapes, self.spec.n_wires, self.spec.n_inputs)

    def unflatten(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for name in self.weight_names:
            shape = self.spec.weight_shapes[name]
            size = int(np.prod(shape))
            out[name] = w[start : start + size].reshape(shape)
            start += size
        return out


@dataclass(frozen=True)
class Row:
    """One comparison against the truth."""

    model: str
    engine: str
    values: float
    weight_grads: float
    input_grads: float
    tolerance: str
    passed: bool
    # per quantity (values, weight grads, input grads): its worst element's index, |Δ| and, with shots, σ
    worst: tuple[str, str, str] = ("", "", "")
    not_checked: str = ""  # why this engine could not run the model (a gate it does not cover): never a pass
    truth: str = EXACT  # what it is compared with: the exact value, or on a noisy device its exact noisy value

    @property
    def compared(self) -> str:
        """Which paths this row compares."""
        return f"{self.engine} vs truth"


QUANTITIES = ("values", "input grads", "weight grads")


def library_cases() -> list[Case]:
    """The circuit library's models, each with its Qiskit construction."""
    return [
        Case("textbook_hry", circuits.textbook_hry(), qiskit_models.textbook_hry()),
        Case("angle_entangling", circuits.angle_entangling(4, 2), qiskit_models.angle_entangling(4, 2)),
        Case("zz_real_amplitudes", circuits.zz_real_amplitudes(2, 2), qiskit_models.zz_real_amplitudes(2, 2)),
        Case(
            "qaoa_maxcut",
            circuits.qaoa_maxcut([(0, 1), (1, 2), (2, 3), (3, 0)], depth=2),
            qiskit_models.qaoa_maxcut([(0, 1), (1, 2), (2, 3), (3, 0)], depth=2),
        ),
    ]


_PENNYLANE_GATES = {
    "rx": qml.RX,
    "ry": qml.RY,
    "rz": qml.RZ,
    "p": qml.PhaseShift,
    "rzz": qml.IsingZZ,
    "crx": qml.CRX,
    "cx": qml.CNOT,
    "h": qml.Hadamard,
}


def pennylane_twin(spec: RandomCircuit) -> CircuitSpec:
    """The PennyLane circuit of a random gate list (the same list builds the Qiskit side)."""

    def qfunc(inputs, weights):
        x = [inputs[..., i] for i in range(spec.n_inputs)]
        for gate in spec.gates:
            args = [angle_value(gate.angle, x, weights)] if gate.angle else []
            _PENNYLANE_GATES[gate.name](*args, wires=list(gate.wires))
        return [qml.expval(qml.PauliZ(q)) for q in spec.readout]

    return CircuitSpec(
        f"random_{spec.seed}",
        qfunc,
        n_wires=spec.n_qubits,
        n_inputs=spec.n_inputs,
        n_outputs=len(spec.readout),
        weight_shapes={"weights": (spec.n_weights,)},
    )


def random_cases(count: int, seed: int = 0) -> list[Case]:
    """``count`` seeded random circuits (2–6 qubits, reused weights, angle expressions)."""
    out = []
    for i in range(count):
        spec = random_circuit(seed * 100_003 + i)
        out.append(Case(f"random_{spec.seed}", pennylane_twin(spec), to_qiskit(spec)))
    return out


# ------------------------------------------------------------------ engines
Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # inputs (B, n_in), flat weights → outputs (B, M)


def case_forward(case: Case, qnode: qml.QNode) -> Forward:
    """A torch-interface QNode of ``case`` as ``(inputs, flat weights) → outputs (batch, M)`` (float64)."""

    def forward(xt: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        out = qnode(xt, **case.unflatten(wt))
        y = torch.stack([torch.as_tensor(o) for o in out], dim=-1).to(torch.float64)
        return y.expand(len(xt), case.spec.n_outputs) if y.ndim == 1 else y

    return forward


def pennylane_engine(case: Case, qnode: qml.QNode) -> Engine:
    """Values and vector-Jacobian products through a torch-interface QNode (float64)."""
    return autograd_engine(case_forward(case, qnode))


def autograd_engine(forward: Forward) -> Engine:
    """Values of ``forward`` and their vector-Jacobian products by torch autograd (float64)."""

    def run(x: np.ndarray, w: np.ndarray, v: np.ndarray) -> Outputs:
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        return autograd_outputs(forward(xt, wt), v, xt, wt)

    return run


def values_of(forward: Forward) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``forward``'s values alone, without autograd's graph (what finite differences evaluate, many times)."""

    def values(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return forward(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)).numpy()

    return values


def autograd_outputs(y: torch.Tensor, v: np.ndarray, xt: torch.Tensor, wt: torch.Tensor) -> Outputs:
    """``y`` ``(batch, outputs)`` and, by autograd, the vector-Jacobian products ``v·∂y/∂x`` ``(batch, inputs)``
    and ``v·∂y/∂w`` ``(weights,)`` (zeros where ``y`` does not depend on them), as float64 NumPy arrays."""
    gx, gw = torch.autograd.grad((y * torch.tensor(v)).sum(), (xt, wt), allow_unused=True)
    return (
        y.detach().numpy(),
        np.zeros(tuple(xt.shape)) if gx is None else gx.numpy(),
        np.zeros(tuple(wt.shape)) if gw is None else gw.numpy(),
    )


def truth_forward(case: Case) -> Forward:
    """The ground truth: ``default.qubit`` with backprop (float64)."""
    dev = qml.device("default.qubit", wires=case.spec.n_wires)
    return case_forward(case, qml.QNode(case.spec.qfunc, dev, interface="torch", diff_method="backprop"))


def reference_engine(qnn: ReferenceQNN) -> Engine:
    def run(x: np.ndarray, w: np.ndarray, v: np.ndarray) -> Outputs:
        gx, gw = qnn.backward(x, w, v)
        return qnn.forward(x, w), gx, gw

    return run


def finite_difference_engine(truth: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Engine:
    """Central differences of the truth's values ``truth(x, w) → (batch, M)`` (float64, step :data:`FD_STEP`): one
    input of every row at once (a row's outputs depend on its own inputs only), one weight at a time."""

    def run(x: np.ndarray, w: np.ndarray, v: np.ndarray) -> Outputs:
        def losses(xx: np.ndarray, ww: np.ndarray) -> np.ndarray:  # per row: rows are independent samples
            return (truth(xx, ww) * v).sum(axis=1)

        def loss(xx: np.ndarray, ww: np.ndarray) -> float:
            return float(losses(xx, ww).sum())

        gx, gw = np.zeros_like(x), np.zeros_like(w)
        for i in range(x.shape[1]):  # one input of every row at once
            plus, minus = x.copy(), x.copy()
            plus[:, i] += FD_STEP
            minus[:, i] -= FD_STEP
            gx[:, i] = (losses(plus, w) - losses(minus, w)) / (2 * FD_STEP)
        for k in range(len(w)):
            plus, minus = w.copy(), w.copy()
            plus[k] += FD_STEP
            minus[k] -= FD_STEP
            gw[k] = (loss(x, plus) - loss(x, minus)) / (2 * FD_STEP)
        return truth(x, w), gx, gw

    return run


# ------------------------------------------------------------------ comparison
def shot_sigmas(
    qnn: ReferenceQNN, x: np.ndarray, w: np.ndarray, v: np.ndarray, values: np.ndarray, shots: int
) -> Outputs:
    """Standard deviations (upper bounds) of shot-based values and shift-rule gradients; see module doc."""
    sigma_values = np.sqrt(np.clip(1 - values**2, 0, None) / shots)
    factors = qnn.chain_factors(x, w)  # (batch, occurrences, n_inputs + n_weights)
    spread = np.abs(v).sum(axis=1)  # Σ_m |v_m| per row
    per_row = (factors**2).sum(axis=1) * spread[:, None] ** 2 / (2 * shots)  # (batch, params)
    return sigma_values, np.sqrt(per_row[:, : qnn.n_inputs]), np.sqrt(per_row[:, qnn.n_inputs :].sum(axis=0))


def compare(
    model: str,
    engine: str,
    got: Outputs,
    want: Outputs,
    *,
    tolerance: float | None = None,
    sigmas: Outputs | None = None,
    shots: int | None = None,
) -> Row:
    """A row: max |Δ| per quantity; passes if every element is within ``tolerance`` or ``K_SIGMA·σ``."""
    deltas = [np.abs(np.asarray(g) - np.asarray(t)) for g, t in zip(got, want, strict=True)]
    maxima = [float(d.max()) if d.size else 0.0 for d in deltas]
    if sigmas is None:
        if tolerance is None:
            raise ValueError("compare needs a tolerance or sigmas")
        scores = [m / tolerance for m in maxima]
        passed = all(m <= tolerance for m in maxima)
        text = f"{tolerance:.0e}"
    else:
        scores = [float((d / (s + 1e-15)).max()) if d.size else 0.0 for d, s in zip(deltas, sigmas, strict=True)]
        passed = all(r <= K_SIGMA for r in scores)
        text = f"{K_SIGMA:.0f}σ at {shots} shots (max {max(scores):.2f}σ)"
    worst = tuple(
        _worst_element(d, None if sigmas is None else np.asarray(s, dtype=float))
        for d, s in zip(deltas, sigmas or (None,) * 3, strict=True)
    )
    return Row(model, engine, maxima[0], maxima[2], maxima[1], text, passed, (worst[0], worst[2], worst[1]))


def _worst_element(delta: np.ndarray, sigma: np.ndarray | None) -> str:
    """``Δ 2.4e-02 at [2, 3], σ 1.6e-02``: the element furthest out (in σ with shots), for the report."""
    if not delta.size:
        return "-"
    index = np.unravel_index(int(np.argmax(delta if sigma is None else delta / (sigma + 1e-15))), delta.shape)
    where = f"Δ {float(delta[index]):.1e} at {list(map(int, index))}"
    return where if sigma is None else f"{where}, σ {float(sigma[index]):.1e}"


def verify_case(
    case: Case,
    profiles: Sequence[Profile],
    *,
    batch: int = 3,
    seed: int = 0,
    candidates: dict[str, Engine] | None = None,
) -> list[Row]:
    """Compare every engine with the truth on one model (inputs, weights and cotangent from ``seed``).

    Args:
        case: the model.
        profiles: profiles of the bridge's PennyLane path.
        batch: inputs per evaluation.
        seed: seed of inputs (uniform in [0, π)), weights (uniform in [0, 2π)) and cotangent (normal).
        candidates: extra engines to check, by name (the tests use this to inject broken gradients).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, np.pi, (batch, case.spec.n_inputs))
    w = rng.uniform(0, 2 * np.pi, case.n_weights)
    v = rng.normal(size=(batch, case.spec.n_outputs))
    forward = truth_forward(case)
    want = autograd_engine(forward)(x, w, v)
    qnn = ReferenceQNN(case.model.circuit, case.model.inputs, case.model.weights, list(case.model.observables))
    rows = [
        compare(case.name, "reference (Aer)", reference_engine(qnn)(x, w, v), want, tolerance=EXACT_TOLERANCE),
        compare(
            case.name,
            "finite-diff",
            finite_difference_engine(values_of(forward))(x, w, v),
            want,
            tolerance=FD_TOLERANCE,
        ),
    ]
    for profile in profiles:
        qnode = make_qnode(case.spec.qfunc, profile, case.spec.n_wires)
        got = pennylane_engine(case, qnode)(x, w, v)
        if profile.shots is None:
            rows.append(compare(case.name, profile.name, got, want, tolerance=EXACT_TOLERANCE))
            continue
        target, against = want, EXACT
        if noise_of(qnode) is not None:  # a noisy device: its shots scatter around the exact noisy value
            try:
                target, against = noisy_engine(case.as_model(), qnode, x, w)(x, w, v), EXACT_NOISY
            except (Untranslatable, NotExact) as e:
                unchecked = Row(case.name, profile.name, math.nan, math.nan, math.nan, "-", False, not_checked=str(e))
                rows.append(dataclasses.replace(unchecked, truth=EXACT_NOISY))
                continue
        sigmas = shot_sigmas(qnn, x, w, v, target[0], profile.shots)
        row = compare(case.name, profile.name, got, target, sigmas=sigmas, shots=profile.shots)
        rows.append(dataclasses.replace(row, truth=against))
    for name, engine in (candidates or {}).items():
        rows.append(compare(case.name, name, engine(x, w, v), want, tolerance=EXACT_TOLERANCE))
    return rows


def run_verification(
    profiles: Sequence[str | Profile] = DEFAULT_PROFILES,
    *,
    random_count: int = 50,
    seed: int = 0,
    json_path: Path | None = None,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Verify the library models and ``random_count`` random circuits on every profile; optional JSON."""
    loaded = [load_profile(p) for p in profiles]
    rows = []
    for case in [*library_cases(), *random_cases(random_count, seed)]:
        for row in verify_case(case, loaded, seed=seed):
            rows.append(row)
            if progress:
                progress(row)
    if json_path:
        write_rows(rows, json_path)
    return rows


def write_rows(rows: Sequence[Row], path: Path) -> None:
    """The rows as JSON: ``{"rows": [...], "passed": bool}`` (NaN for a comparison that could not be made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": [asdict(r) for r in rows], "passed": all(r.passed for r in rows)}, indent=2))


def format_row(row: Row) -> str:
    """One line of the report: per quantity, the worst element (index, |Δ|, σ with shots)."""
    maxima = (row.values, row.weight_grads, row.input_grads)
    cells = [w or f"Δ {m:.1e}" for w, m in zip(row.worst, maxima, strict=True)]
    head = f"| {row.model} | {row.compared} | {row.truth} |"
    if row.not_checked:
        return f"{head} not checked: {row.not_checked} | - | - | - | NOT CHECKED |"
    return f"{head} {' | '.join(cells)} | {row.tolerance} | {'pass' if row.passed else 'FAIL'} |"


TABLE_HEADER = (
    "| model | compared | truth | values: worst element | weight grads: worst element | input grads: worst element "
    "| tolerance | result |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
)
