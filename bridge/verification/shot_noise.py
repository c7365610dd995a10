"""How far a shot-based estimate may stray from the exact value: standard-deviation bounds for tolerances.

With ``N`` shots, an estimate of ⟨O⟩ is a mean of ``N`` single-shot eigenvalues of ``O``. Its standard
deviation is at most ``s(O)/√N`` with ``s(O) = (λ_max − λ_min)/2``, half the spread of O's spectrum
(Popoviciu's inequality). This module computes ``s`` per measurement and propagates it through the
parameter-shift rule:

* ``expval(O)``: ``s = (λ_max − λ_min)/2`` from O's actual spectrum (a ``Hermitian``), or ``Σ_i |c_i|`` for a
  Pauli sum ``Σ c_i P_i`` (identity terms excluded; each qubit-wise commuting group is sampled with its own
  ``N`` shots, and the groups' variances add up to at most ``(Σ|c_i|)²/N``);
* ``probs``: each probability is a Bernoulli mean, ``s = ½``;
* ``var(O)``: estimated as ``⟨O²⟩ − ⟨O⟩²``, to first order its deviation is that of ``⟨O²⟩`` plus ``2|⟨O⟩|``
  times that of ``⟨O⟩``, so ``s = s(O²) + 2 |⟨O⟩| s(O)``; its derivative ``∂⟨O²⟩ − 2⟨O⟩ ∂⟨O⟩`` has the same
  spread. ``⟨O⟩`` is the exact value where known (:func:`exact_means`), else its bound ``‖O‖ ≤ s(O)``-style
  ``max |λ|``.

A derivative by the two-term shift rule is ``∂f/∂p = Σ_k (∂φ_k/∂p) · ½ [f(φ_k + π/2) − f(φ_k − π/2)]`` over
the Pauli-rotation occurrences ``φ_k`` of the circuit that depend on ``p`` (each estimate from its own ``N``
shots), so ``σ(∂f/∂p)² ≤ ½ · s² · Σ_k (∂φ_k/∂p)² / N``. For a vector-Jacobian product ``Σ_m v_m ∂f_m/∂p`` the
outputs' deviations add at most linearly: ``σ ≤ Σ_m |v_m| s_m · √(½ Σ_k (∂φ_k/∂p)² / N)``; rows (broadcast
samples) are independent, so for a weight shared by all rows the variances add.

The occurrences are found by decomposing the circuit into single-parameter rotations with PennyLane and
differentiating their angles with ``torch.autograd`` (:func:`angle_jacobian`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP

# Gates whose every parameter obeys the two-term shift rule with shifts ±π/2 (generator eigenvalues ±½,
# or a phase with eigenvalues 0 and 1): the basis the bounds are stated in.
TWO_TERM_GATES = frozenset({"RX", "RY", "RZ", "PhaseShift", "IsingXX", "IsingYY", "IsingZZ", "GlobalPhase"})


def spread(measurement: Any, mean: float | None = None, shots: int | None = None) -> float:
    """``s``: a bound on the standard deviation of one shot's outcome of ``measurement`` (see module doc).

    Args:
        measurement: an ``expval``, ``var`` or ``probs`` measurement.
        mean: for a variance, the exact ``⟨O⟩`` (tightens the bound); ``None`` uses ``max |λ(O)|``.
        shots: for a variance with a known ``mean``, the shots per circuit: the estimate of ``⟨O⟩`` strays by
            ``s(O)/√N``, a second-order term that the first-order bound misses where ``⟨O⟩ = 0`` (with ``O² ∝ I``
            the bound would be 0); ``|⟨O⟩|`` is then taken as ``|mean| + 2 s(O)/√N``.

    Raises:
        ValueError: a measurement without a bound here (samples, counts, states).
    """
    if isinstance(measurement, ProbabilityMP):
        return 0.5
    if not isinstance(measurement, ExpectationMP | VarianceMP) or measurement.obs is None:
        raise ValueError(f"no shot-noise bound for {measurement}")
    obs = measurement.obs
    if not isinstance(measurement, VarianceMP):
        return _observable_spread(obs)
    if obs.pauli_rep is not None:
        square_spread = _pauli_spread(obs.pauli_rep @ obs.pauli_rep)
        largest = float(sum(abs(c) for c in obs.pauli_rep.values()))
    else:
        eigvals = np.real(np.asarray(obs.eigvals()))
        square_spread = float((eigvals**2).max() - (eigvals**2).min()) / 2
        largest = float(np.abs(eigvals).max())
    magnitude = largest if mean is None else abs(mean)
    if mean is not None and shots:
        magnitude = min(largest, magnitude + 2 * _observable_spread(obs) / math.sqrt(shots))
    return square_spread + 2 * magnitude * _observable_spread(obs)


def _observable_spread(obs: Any) -> float:
    """``s(O)``: ``Σ|c_i|`` over the non-identity terms of a Pauli sum, else half the spread of O's spectrum."""
    if obs.pauli_rep is not None:
        return _pauli_spread(obs.pauli_rep)
    eigvals = np.real(np.asarray(obs.eigvals()))
    return float(eigvals.max() - eigvals.min()) / 2


def _pauli_spread(sentence: Any) -> float:
    return float(sum(abs(np.real(c)) for word, c in sentence.items() if len(word) and abs(c) > 1e-12))


def exact_means(tape: qml.tape.QuantumScript) -> list[float | None]:
    """Per measurement of ``tape``, the exact ``⟨O⟩`` of a variance's observable (``default.qubit``); ``None``
    for other measurements."""
    variances = [m for m in tape.measurements if isinstance(m, VarianceMP)]
    if not variances:
        return [None] * len(tape.measurements)
    probe = tape.copy(measurements=[qml.expval(m.obs) for m in variances])
    (values,) = qml.execute([probe], qml.device("default.qubit", wires=tape.wires))
    values = iter(np.atleast_1d(np.asarray(values, dtype=float)) if len(variances) == 1 else values)
    return [float(next(values)) if isinstance(m, VarianceMP) else None for m in tape.measurements]


def output_spreads(
    tape: qml.tape.QuantumScript, means: Sequence[float | None] | None = None, shots: int | None = None
) -> np.ndarray:
    """``s`` of every output column of a tape (one row), in the order a ``QuantumLayer`` lays them out.

    Args:
        tape: one sample's circuit.
        means: per measurement, the exact ``⟨O⟩`` for variances (:func:`exact_means`), or ``None``.
        shots: shots per circuit (see :func:`spread`).
    """
    spreads: list[float] = []
    for m, mean in zip(tape.measurements, means or [None] * len(tape.measurements), strict=True):
        size = 2 ** len(m.wires or tape.wires) if isinstance(m, ProbabilityMP) else 1
        spreads += [spread(m, mean, shots)] * size
    return np.asarray(spreads)


def angle_jacobian(
    qfunc: Callable[..., Any],
    inputs: torch.Tensor,
    weights: dict[str, torch.Tensor],
    stop: Callable[[qml.operation.Operator], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``∂φ_k/∂x`` and ``∂φ_k/∂w`` of every rotation angle ``φ_k`` of the circuit, decomposed into
    :data:`TWO_TERM_GATES` and constant gates.

    Args:
        qfunc: ``qfunc(inputs, **weights)``.
        inputs: one sample, shape ``(n_inputs,)``.
        weights: the weight tensors.
        stop: where the decomposition stops (default: at two-term gates and parameter-free ones); the angles are
            those of the decomposed circuit's :data:`TWO_TERM_GATES`, in order.

    Returns:
        ``(occurrences, n_inputs)`` and ``(occurrences, n_weights)`` (weights flattened in ``weights``' order).
    """
    names = list(weights)
    flat = torch.cat([weights[n].reshape(-1) for n in names]) if names else torch.zeros(0, dtype=torch.float64)
    sizes = [weights[n].numel() for n in names]

    def angles(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        parts = dict(zip(names, torch.split(w, sizes), strict=True)) if names else {}
        unflat = {n: parts[n].reshape(weights[n].shape) for n in names}
        tape = qml.tape.make_qscript(qfunc)(x, **unflat)
        (expanded,), _ = qml.transforms.decompose(tape, stopping_condition=stop or _stop_at_two_term)
        data = [
            torch.as_tensor(d, dtype=torch.float64).reshape(())
            for op in expanded.operations
            if op.name in TWO_TERM_GATES
            for d in op.data
        ]
        return torch.stack(data) if data else torch.zeros(0, dtype=torch.float64)

    x = inputs.detach().to(torch.float64)
    w = flat.detach().to(torch.float64)
    jx, jw = torch.autograd.functional.jacobian(angles, (x, w))
    return jx.numpy(), jw.numpy()


def _stop_at_two_term(op: qml.operation.Operator) -> bool:
    return op.name in TWO_TERM_GATES or op.num_params == 0


def value_sigmas(spreads: np.ndarray, shots: int) -> np.ndarray:
    """σ of each output value: ``s/√N`` (``spreads`` per output column, or per row and column)."""
    return np.asarray(spreads) / math.sqrt(shots)


def vjp_sigmas(
    spreads: np.ndarray, cotangents: np.ndarray, jacobians: Sequence[tuple[np.ndarray, np.ndarray]], shots: int
) -> tuple[np.ndarray, np.ndarray]:
    """σ of a vector-Jacobian product ``Σ_m v_m ∂y_m/∂(x, w)`` computed by the two-term shift rule.

    Args:
        spreads: ``s`` per output column, ``(n_outputs,)`` or per row ``(rows, n_outputs)``.
        cotangents: ``v``, shape ``(rows, n_outputs)``.
        jacobians: per row, :func:`angle_jacobian`'s ``(∂φ/∂x, ∂φ/∂w)``.
        shots: shots per circuit.

    Returns:
        σ of the input gradient ``(rows, n_inputs)`` and of the weight gradient ``(n_weights,)`` (rows summed).
    """
    per_row = np.broadcast_to(np.asarray(spreads, dtype=float), np.shape(cotangents))
    sx, sw2 = [], 0.0
    for v, s, (jx, jw) in zip(cotangents, per_row, jacobians, strict=True):
        scale = float(np.abs(v) @ s) ** 2 / (2 * shots)
        sx.append(np.sqrt(scale * (jx**2).sum(axis=0)))
        sw2 = sw2 + scale * (jw**2).sum(axis=0)
    return np.asarray(sx), np.sqrt(sw2)
