"""One comparison of an engine with the truth: its :class:`Row`, the tolerances, and the report's formats.

Every engine gives :data:`Outputs` — the values ``y (batch, M)``, ``v·∂y/∂x (batch, n_inputs)`` and ``v·∂y/∂w
(n_weights,)`` for inputs ``x``, flat weights ``w`` and a cotangent ``v`` — and :func:`compare` turns a pair of them
into a row: the largest |Δ| per quantity, its worst element, and pass or fail against a tolerance or ``K_SIGMA·σ``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.verification.noisy_truth import EXACT

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]  # values (B, M), d/dx (B, n_in), d/dw (n_w,)
Engine = Callable[[np.ndarray, np.ndarray, np.ndarray], Outputs]  # (x, w, v) → Outputs

EXACT_TOLERANCE = 1e-8
FD_TOLERANCE = 1e-6
K_SIGMA = 5.0


@dataclass(frozen=True)
class Worst:
    """Per quantity, its worst element: ``Δ 2.4e-02 at [2, 3], σ 1.6e-02`` (σ with shots), ``-`` if empty."""

    values: str = ""
    weight_grads: str = ""
    input_grads: str = ""


@dataclass(frozen=True)
class Row:
    """One engine compared with the truth on one model: the largest |Δ| per quantity (NaN when not checked)."""

    model: str
    engine: str
    values: float
    weight_grads: float
    input_grads: float
    tolerance: str
    passed: bool
    worst: Worst = Worst()
    not_checked: str = ""  # why this engine could not run the model (a gate it does not cover): never a pass
    truth: str = EXACT  # what it is compared with: the exact value, or on a noisy device its exact noisy value

    @property
    def compared(self) -> str:
        """Which paths this row compares."""
        return f"{self.engine} vs truth"


def not_checked(model: str, engine: str, reason: str, truth: str = EXACT) -> Row:
    """A row for an engine that could not run the model: it fails, and says why."""
    return Row(model, engine, math.nan, math.nan, math.nan, "-", False, not_checked=reason, truth=truth)


def compare(
    model: str,
    engine: str,
    got: Outputs,
    want: Outputs,
    *,
    tolerance: float | None = None,
    sigmas: Outputs | None = None,
    shots: int | None = None,
    truth: str = EXACT,
) -> Row:
    """A row: max |Δ| per quantity; passes if every element is within ``tolerance`` or ``K_SIGMA·σ``."""
    values, input_grads, weight_grads = (np.abs(np.asarray(g) - np.asarray(t)) for g, t in zip(got, want, strict=True))
    deltas = {"values": values, "input_grads": input_grads, "weight_grads": weight_grads}
    spreads: dict[str, Any] = dict(zip(deltas, sigmas, strict=True)) if sigmas is not None else dict.fromkeys(deltas)
    maxima = {k: float(d.max()) if d.size else 0.0 for k, d in deltas.items()}
    if sigmas is None:
        if tolerance is None:
            raise ValueError("compare needs a tolerance or sigmas")
        passed = all(m <= tolerance for m in maxima.values())
        text = f"{tolerance:.0e}"
    else:
        scores = [float((d / (spreads[k] + 1e-15)).max()) if d.size else 0.0 for k, d in deltas.items()]
        passed = all(s <= K_SIGMA for s in scores)
        text = f"{K_SIGMA:.0f}σ at {shots} shots (max {max(scores):.2f}σ)"
    worst = Worst(
        **{
            k: _worst_element(d, None if spreads[k] is None else np.asarray(spreads[k], float))
            for k, d in deltas.items()
        }
    )
    return Row(
        model,
        engine,
        values=maxima["values"],
        weight_grads=maxima["weight_grads"],
        input_grads=maxima["input_grads"],
        tolerance=text,
        passed=passed,
        worst=worst,
        truth=truth,
    )


def _worst_element(delta: np.ndarray, sigma: np.ndarray | None) -> str:
    if not delta.size:
        return "-"
    index = np.unravel_index(int(np.argmax(delta if sigma is None else delta / (sigma + 1e-15))), delta.shape)
    where = f"Δ {float(delta[index]):.1e} at {list(map(int, index))}"
    return where if sigma is None else f"{where}, σ {float(sigma[index]):.1e}"


def write_rows(rows: Sequence[Row], path: Path) -> None:
    """The rows as JSON: ``{"rows": [...], "passed": bool}`` (NaN for a comparison that could not be made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": [asdict(r) for r in rows], "passed": all(r.passed for r in rows)}, indent=2))


def format_row(row: Row) -> str:
    """One line of the report: per quantity, the worst element (index, |Δ|, σ with shots)."""
    head = f"| {row.model} | {row.compared} | {row.truth} |"
    if row.not_checked:
        return f"{head} not checked: {row.not_checked} | - | - | - | NOT CHECKED |"
    cells = [getattr(row.worst, k) or f"Δ {getattr(row, k):.1e}" for k in ("values", "weight_grads", "input_grads")]
    return f"{head} {' | '.join(cells)} | {row.tolerance} | {'pass' if row.passed else 'FAIL'} |"


TABLE_HEADER = (
    "| model | compared | truth | values: worst element | weight grads: worst element | input grads: worst element "
    "| tolerance | result |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
)
