"""The one comparison: a model — a user's ``QuantumLayer``, ``qml.qnn.TorchLayer``, QNode with its weight shapes, a
zero-argument function returning one of these, or one of the library's models (:mod:`bridge.verification.library`)
— on every engine of :mod:`bridge.verification.engines`, each against the truth.

On seeded inputs ``x (batch, n_inputs)``, weights ``w`` and a cotangent ``v``, every engine gives the outputs, the
input gradient and the weight gradient of ``Σ v·y``; each is compared with the exact truth (``default.qubit``,
backprop, float64):

* the model's quantum function on each requested profile (the bridge's path), and the model as given (its own
  device, diff method and shots);
* the **reference**: an independent Qiskit circuit run by ``bridge.reference`` with its hand-written shift rule.
  For a layer built with ``QuantumLayer.from_qiskit``, and for the library's models, it is the *original* Qiskit
  circuit (so a wrong conversion is a failure); otherwise :func:`bridge.verification.translate.translate`'s circuit,
  with one parameter per angle occurrence and the chain rule from
  :func:`bridge.verification.shot_noise.angle_jacobian`. A gate or measurement the translation does not cover is
  reported as such, never skipped;
* central finite differences of the truth; and, with ``against=("qiskit-ml",)``, qiskit-machine-learning's
  ``EstimatorQNN`` + ``TorchConnector`` on the same circuit (where its observables are Pauli sums).

Tolerances: 1e-8 on exact engines (``tolerance`` may only tighten it), 1e-6 relative on qiskit-ml (its
``TorchConnector`` returns float32); with shots, 5σ per element, σ from
:mod:`bridge.verification.shot_noise` (each observable's spread, each gate occurrence's shift rule). A noisy device
(``aer-noisy``, the fake IBM backends) is compared with its exact *noisy* value and shift-rule gradient instead
(:mod:`bridge.verification.noisy_truth`): its shots scatter around that, not around the noise-free truth. Each row
names the truth it used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch

from bridge.exceptions import InputError
from bridge.layers.qnodes import ListOutputs, make_qnode
from bridge.profiles import Profile, load_profile
from bridge.verification.angle_chain import noisy_engine
from bridge.verification.engines import (
    autograd_engine,
    autograd_outputs,
    finite_difference_engine,
    model_forward,
    qiskit_ml_engine,
    reference_engine,
    truth_forward,
    values_of,
)
from bridge.verification.model import Model, as_model, load_model, model_tape, quantum_layers
from bridge.verification.noisy_truth import EXACT_NOISY, NotExact, noise_of
from bridge.verification.rows import (
    EXACT_TOLERANCE,
    FD_TOLERANCE,
    Engine,
    Outputs,
    Row,
    compare,
    not_checked,
)
from bridge.verification.shot_noise import angle_jacobian, exact_means, output_spreads, value_sigmas, vjp_sigmas
from bridge.verification.translate import Untranslatable

__all__ = ["DEFAULT_PROFILES", "Model", "as_model", "load_model", "verify_model"]

DEFAULT_PROFILES = ("default", "fast", "aer", "aer-shots")
MAX_BATCH = 1024  # rows a verification evaluates: beyond, minutes per engine (refused, with the bound)
FLOAT32_TOLERANCE = 1e-6  # times the largest |value| or |gradient| (at least 1): qiskit-ml's float32 outputs


# ------------------------------------------------------------------ the comparison
def verify_model(
    obj: Any,
    profiles: Sequence[str | Profile] = DEFAULT_PROFILES,
    *,
    batch: int = 3,
    seed: int = 0,
    against: Sequence[str] = (),
    tolerance: float | None = None,
    weight_shapes: dict[str, Any] | None = None,
    n_inputs: int | None = None,
    candidates: dict[str, Engine] | None = None,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Compare every engine with the truth on a user's model; see the module docstring.

    Args:
        obj: the model (see :func:`as_model`), or any torch module: each of its quantum layers is verified, its rows
            named ``PATH: NAME`` by its place in the module (:func:`~bridge.verification.model.quantum_layers`).
        profiles: profiles the model's quantum function is run on through the bridge.
        batch: inputs per evaluation.
        seed: seed of inputs (uniform in [0, π)), weights (uniform in [0, 2π)) and cotangent (normal).
        against: outside implementations to add (``"qiskit-ml"``).
        tolerance: a tighter exact tolerance than 1e-8 (a looser one is refused).
        weight_shapes: for a bare QNode, its weight shapes (``--weight-shape`` on the command line).
        n_inputs: the input size, where it cannot be inferred.
        candidates: extra engines to check, by name (tests inject faults this way).
        progress: called with each row as soon as it is computed (the command line prints it).

    Raises:
        InputError: a tolerance looser than the default, a batch above :data:`MAX_BATCH`, or a model that cannot be
            verified.
    """
    if tolerance is not None and not 0 < tolerance <= EXACT_TOLERANCE:
        raise InputError(
            f"--tolerance can only tighten the exact tolerance: give a value in (0, {EXACT_TOLERANCE:g}]"
            f", got {tolerance}"
        )
    if batch > MAX_BATCH:
        raise InputError(
            f"--batch {batch} is above the bound of {MAX_BATCH} rows: every engine evaluates each row with its "
            "gradient (about 0.2 s a row for a 2-qubit model on the default profiles)"
        )
    layers = quantum_layers(obj)
    if len(layers) > 1 or layers[0][0]:  # layers inside a torch module: each verified on its own, named by its path
        settings = {"batch": batch, "seed": seed, "against": against, "tolerance": tolerance, "candidates": candidates}
        return [row for path, layer in layers for row in _layer_rows(path, layer, profiles, progress, settings)]
    rows: list[Row] = []

    def add(row: Row) -> None:
        rows.append(row)
        if progress is not None:
            progress(row)

    exact_tol = tolerance or EXACT_TOLERANCE
    model = as_model(layers[0][1], weight_shapes=weight_shapes, n_inputs=n_inputs)
    rng = np.random.default_rng(seed)
    batch = batch if model.n_inputs else 1  # without inputs, the model has one output row
    x = rng.uniform(0, np.pi, (batch, model.n_inputs))
    w = rng.uniform(0, 2 * np.pi, model.n_weights)
    forward = truth_forward(model)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    y = forward(xt, wt)  # the truth runs once: its output size gives the cotangent's
    v = rng.normal(size=tuple(y.shape))
    want = autograd_outputs(y, v, xt, wt)
    finite = finite_difference_engine(values_of(forward))(x, w, v)
    add(compare(model.name, "finite-diff", finite, want, tolerance=FD_TOLERANCE))
    outside: dict[str, Callable[[], Engine]] = {"reference (Aer)": lambda: reference_engine(model, x, w)}
    if "qiskit-ml" in against:
        outside["qiskit-ml"] = lambda: qiskit_ml_engine(model, x, w)
    # qiskit-ml's TorchConnector returns float32 tensors: its column gets float32's resolution, relative to the scale
    scale = max(1.0, *(float(np.abs(q).max(initial=0.0)) for q in want))
    tolerances = {"qiskit-ml": FLOAT32_TOLERANCE * scale}
    for name, make in outside.items():
        try:
            add(compare(model.name, name, make()(x, w, v), want, tolerance=tolerances.get(name, exact_tol)))
        except Untranslatable as e:
            add(not_checked(model.name, name, str(e)))
    engines: list[tuple[str, qml.QNode, int | None]] = [
        (p.name, make_qnode(ListOutputs(model.qfunc), p, model.n_wires), p.shots) for p in map(load_profile, profiles)
    ]
    if model.given is not None:
        given = model.given.update(func=ListOutputs(model.qfunc), interface="torch")
        engines.append((f"as given ({given.device.name})", given, given.shots.total_shots))
    for name, qnode, shots in engines:
        got = autograd_engine(model_forward(model, qnode))(x, w, v)
        if shots is None:
            add(compare(model.name, name, got, want, tolerance=exact_tol))
        elif noise_of(qnode) is None:
            add(compare(model.name, name, got, want, sigmas=_sigmas(model, x, w, v, shots), shots=shots))
        else:  # a noisy device: its shots scatter around the noisy value
            try:
                noisy = noisy_engine(model, qnode, x, w)(x, w, v)
            except (Untranslatable, NotExact) as e:
                add(not_checked(model.name, name, str(e), truth=EXACT_NOISY))
                continue
            sigmas = _sigmas(model, x, w, v, shots)
            add(compare(model.name, name, got, noisy, sigmas=sigmas, shots=shots, truth=EXACT_NOISY))
    for name, engine in (candidates or {}).items():
        add(compare(model.name, name, engine(x, w, v), want, tolerance=exact_tol))
    return rows


def _layer_rows(
    path: str,
    layer: Any,
    profiles: Sequence[str | Profile],
    progress: Callable[[Row], None] | None,
    settings: dict[str, Any],
) -> list[Row]:
    """The rows of one quantum layer of a module, named ``PATH: NAME`` (reported as they come, so named)."""

    def named(row: Row) -> Row:
        return dataclasses.replace(row, model=f"{path}: {row.model}")

    shown = None if progress is None else lambda row: progress(named(row))
    return [named(row) for row in verify_model(layer, profiles, progress=shown, **settings)]


def _sigmas(model: Model, x: np.ndarray, w: np.ndarray, v: np.ndarray, shots: int) -> Outputs:
    weights = model.unflatten(torch.tensor(w))
    tapes = [model_tape(model, torch.tensor(row), torch.tensor(w)) for row in x]
    spreads = np.stack([output_spreads(t, exact_means(t), shots) for t in tapes])
    jacobians = [angle_jacobian(ListOutputs(model.qfunc), torch.tensor(row), weights) for row in x]
    sx, sw = vjp_sigmas(spreads, v, jacobians, shots)
    return value_sigmas(spreads, shots), sx, sw
