"""The verification suite: everything agrees, and each classic gradient bug is caught."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.profiles import load_profile
from bridge.reference import ReferenceQNN
from bridge.reference import models as qiskit_models
from bridge.verification.engines import qnn_engine
from bridge.verification.library import (
    DEFAULT_PROFILES,
    Case,
    library_cases,
    random_cases,
    verify_case,
)

PROFILES = [load_profile(p) for p in DEFAULT_PROFILES]


@pytest.mark.parametrize("case", library_cases(), ids=lambda c: c.name)
def test_library_models_agree_everywhere(case):
    rows = verify_case(case, PROFILES)
    engines = {r.engine for r in rows}
    assert {"reference (Aer)", "finite-diff", *DEFAULT_PROFILES} <= engines
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.parametrize("case", random_cases(12, seed=1), ids=lambda c: c.name)
def test_random_circuits_agree_everywhere(case):
    rows = verify_case(case, PROFILES, seed=1)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


def test_random_circuits_cover_repeats_and_expressions():
    cases = random_cases(50)
    sizes = {c.spec.n_wires for c in cases}
    assert sizes == {2, 3, 4, 5, 6}
    kinds = {g.angle.kind for c in cases for g in _gates(c) if g.angle}
    assert kinds == {"lin", "sum", "prod", "zz"}
    reused = sum(1 for c in cases if _max_weight_uses(c) > 1)
    assert reused >= 40


def _gates(case):
    from bridge.reference.random_circuits import random_circuit

    return random_circuit(int(case.name.split("_")[1])).gates


def _max_weight_uses(case):
    counts = {}
    for gate in _gates(case):
        for var in gate.angle.variables if gate.angle else ():
            if var[0] == "w":
                counts[var] = counts.get(var, 0) + 1
    return max(counts.values(), default=0)


# ---------------------------------------------------------------- injected bugs
def _case(name):
    return next(c for c in [*library_cases(), *random_cases(1)] if c.name == name)


def _qnn(model):
    return ReferenceQNN(model.circuit, model.inputs, model.weights, list(model.observables))


def _missing_half(case):
    """The Qiskit textbook's backward pass: E(θ+π/2) − E(θ−π/2) without the factor ½."""
    good = qnn_engine(_qnn(case.model))

    def run(x, w, v):
        y, gx, gw = good(x, w, v)
        return y, 2 * gx, 2 * gw

    return run


def _swapped_weights(case):
    """Gradients returned in the wrong parameter order (qiskit-machine-learning #987)."""
    good = qnn_engine(_qnn(case.model))

    def run(x, w, v):
        y, gx, gw = good(x, w, v)
        return y, gx, gw[::-1]

    return run


def _reversed_qubits(case):
    """Observables read in the other framework's qubit order."""
    model = case.model
    reversed_obs = [qiskit_models.SparsePauliOp(o.paulis.to_labels()[0][::-1]) for o in model.observables]
    return qnn_engine(ReferenceQNN(model.circuit, model.inputs, model.weights, reversed_obs))


def _dropped_binding(case):
    """The inputs never reach the circuit (a later edit of the textbook dropped the parameter binding)."""
    good = qnn_engine(_qnn(case.model))

    def run(x, w, v):
        return good(np.zeros_like(x), w, v)

    return run


@pytest.mark.parametrize(
    "bug",
    [_missing_half, _swapped_weights, _reversed_qubits, _dropped_binding],
    ids=["missing-half", "swapped-parameter-order", "reversed-qubit-order", "dropped-binding"],
)
@pytest.mark.parametrize("model", ["angle_entangling", "random_0"])
def test_each_injected_bug_is_reported_as_a_failure(bug, model):
    case: Case = _case(model)
    rows = verify_case(case, [], candidates={"buggy": bug(case)})
    buggy = [r for r in rows if r.engine == "buggy"]
    assert len(buggy) == 1 and not buggy[0].passed
    assert all(r.passed for r in rows if r.engine != "buggy")


def test_cli_exits_1_on_failure(monkeypatch, capsys):
    import bridge.verification.library
    from bridge.app.cli import main

    real = bridge.verification.library.verify_case

    def with_bug(case, profiles, **kwargs):
        return real(case, profiles, candidates={"buggy": _missing_half(case)}, **kwargs)

    monkeypatch.setattr(bridge.verification.library, "verify_case", with_bug)
    assert main(["verify", "--device", "default", "--random", "0"]) == 1
    out = capsys.readouterr().out
    assert "| textbook_hry | buggy vs truth |" in out and "FAIL" in out and "verification FAILED" in out


def test_cli_passes_and_writes_json(tmp_path, capsys):
    import json

    from bridge.app.cli import main

    path = tmp_path / "verify.json"
    assert main(["verify", "--device", "aer", "--device", "aer-stock", "--random", "2", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["passed"] and {r["engine"] for r in data["rows"]} >= {"aer", "aer-stock", "reference (Aer)"}
    assert "all" in capsys.readouterr().out


def test_the_reference_trains_mnist01_like_the_pennylane_path(tmp_path):
    """Same seed, same data, same trunk: the reference and the PennyLane path reach the same accuracy."""
    import dataclasses

    from bridge.app.models import ReferenceTextbookNet
    from bridge.app.registry import get_task
    from bridge.app.train import TrainConfig, train_task

    task = get_task("mnist01")
    config = TrainConfig(
        profile=load_profile("default"), epochs=task.epochs, seed=0, out=tmp_path / "pl", progress=False
    )
    pennylane = train_task(task, config)
    reference = train_task(
        dataclasses.replace(task, build_model=lambda profile, classical: ReferenceTextbookNet()),
        dataclasses.replace(config, out=tmp_path / "ref"),
    )
    assert reference["test_accuracy"] == pennylane["test_accuracy"] >= 0.99
    # Both paths compute the circuit in float64 but feed a float32 trunk; their outputs differ by float32 rounding,
    # which 1,000 optimizer steps amplify. Measured on the 2-core machine (also on main before the change that
    # added this comment): ≤ 1.2e-6 through epoch 4, 3.1e-4 at epoch 5. A missing ½ or a swapped sign differs by
    # far more from the first epoch on.
    np.testing.assert_allclose(reference["train_loss"][:4], pennylane["train_loss"][:4], atol=1e-5)
    np.testing.assert_allclose(reference["train_loss"], pennylane["train_loss"], atol=1e-3)
