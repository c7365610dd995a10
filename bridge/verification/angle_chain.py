"""Engines over the independent translation (:mod:`bridge.verification.translate`): a circuit whose parameters are the
model's angle occurrences ``φ``, brought back to the model's inputs and weights by the chain rule; among them the exact
noisy truth of a noisy device (:mod:`bridge.verification.noisy_truth`).

An engine maps inputs ``x (batch, n_inputs)``, flat weights ``w`` and a cotangent ``v (batch, outputs)`` to the
outputs, ``v·∂y/∂x`` and ``v·∂y/∂w`` (see :mod:`bridge.verification.rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pennylane as qml
import torch

from bridge.verification.model import Model, model_tape
from bridge.verification.noisy_truth import NoisyExpectations, NotExact, device_layouts, noise_of
from bridge.verification.rows import Engine, Outputs
from bridge.verification.shot_noise import TWO_TERM_GATES, angle_jacobian
from bridge.verification.translate import stop, translate


def through_angles(
    model: Model,
    squares: Sequence[int | None],
    forward: Callable[[np.ndarray], np.ndarray],
    backward: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Engine:
    """An engine over a translation whose inputs are the angle occurrences ``φ (batch, occurrences)``:
    ``forward(φ) → (batch, outputs + squares)`` and ``backward(φ, cotangent) → dφ``; variances are assembled from
    ``<O>`` and ``<O²>``, and the chain rule ``dφ/dx``, ``dφ/dw``
    (:func:`bridge.verification.shot_noise.angle_jacobian`) brings the gradients to the model's inputs and weights."""
    n_out = len(squares)

    def run(xx: np.ndarray, ww: np.ndarray, v: np.ndarray) -> Outputs:
        weights = model.unflatten(torch.tensor(ww))
        jacobians = [angle_jacobian(model.qfunc, torch.tensor(row), weights, stop) for row in xx]
        phis = np.stack([occurrence_angles(model, row, ww) for row in xx])
        raw = forward(phis)  # (batch, outputs + squares)
        values = raw[:, :n_out].copy()
        cotangent = np.zeros_like(raw)
        cotangent[:, :n_out] = v
        for col, sq in enumerate(squares):
            if sq is not None:  # var = <O²> − <O>²; d var = d<O²> − 2 <O> d<O>
                values[:, col] = raw[:, sq] - raw[:, col] ** 2
                cotangent[:, sq] += v[:, col]
                cotangent[:, col] = -2 * raw[:, col] * v[:, col]
        g_phi = backward(phis, cotangent)  # (batch, occurrences)
        gx = np.stack([g @ jx for g, (jx, _) in zip(g_phi, jacobians, strict=True)])
        gw = sum(g @ jw for g, (_, jw) in zip(g_phi, jacobians, strict=True))
        return values, gx, np.asarray(gw)

    return run


def noisy_engine(model: Model, qnode: qml.QNode, x: np.ndarray, w: np.ndarray) -> Engine:
    """The exact noisy truth of ``qnode``'s noisy device (:mod:`bridge.verification.noisy_truth`): the independent
    translation on the device's physical qubits and noise model, as a density matrix, with the chain rule of
    :func:`bridge.verification.engines.reference_engine`.

    Raises:
        Untranslatable: the translation does not cover a gate or measurement of the model.
        NotExact: the noisy value or its shift rule cannot be computed exactly (the reason says why).
    """
    noise = noise_of(qnode)
    if noise is None:
        raise NotExact(f"{qnode.device.name} runs without a noise model here")
    tape = model_tape(model, torch.tensor(x[0]), torch.tensor(w))
    translation = translate(tape, model.n_wires)
    layouts = device_layouts(qnode, torch.tensor(x), **model.unflatten(torch.tensor(w)))
    first = next(iter(layouts.values()))
    per_column = [  # each output column's measurement, laid out as the device laid that measurement out
        layouts.get(m.hash, first)
        for m in tape.measurements
        for _ in range(2 ** len(m.wires or range(model.n_wires)) if m.obs is None else 1)
    ]
    per_observable = per_column + [per_column[c] for c, sq in enumerate(translation.squares) if sq is not None]
    noisy = NoisyExpectations(translation, noise, per_observable)
    return through_angles(model, translation.squares, noisy.forward, noisy.backward)


def occurrence_angles(model: Model, row: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Values of the translation's angle occurrences φ_k for one input row."""
    tape = model_tape(model, torch.tensor(row), torch.tensor(w))
    (expanded,), _ = qml.transforms.decompose(tape, stopping_condition=stop)
    return np.array(
        [float(qml.math.toarray(d)) for op in expanded.operations if op.name in TWO_TERM_GATES for d in op.data]
    )
