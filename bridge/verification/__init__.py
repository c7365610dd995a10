"""Verification: a model's values and gradients on the bridge's path against an exact truth, an independent Qiskit
reference, finite differences and (optionally) qiskit-machine-learning — for the library's models
(:func:`run_verification`) and a user's (:func:`verify_model`), through one comparison (:mod:`.run`).

Parts: :mod:`.engines` (what is compared), :mod:`.rows` (the comparison's row, tolerances, report),
:mod:`.model` (a user's model as verification sees it), :mod:`.library` (the library's models and random circuits),
:mod:`.translate` (the independent PennyLane → Qiskit translation), :mod:`.shot_noise` (σ of shot estimates),
:mod:`.noisy_truth` and :mod:`.angle_chain` (the exact noisy value of a noisy device).
"""

from bridge.verification.library import run_verification
from bridge.verification.model import Model, as_model, load_model
from bridge.verification.rows import TABLE_HEADER, Row, format_row, write_rows
from bridge.verification.run import verify_model

__all__ = [
    "TABLE_HEADER",
    "Model",
    "Row",
    "as_model",
    "format_row",
    "load_model",
    "run_verification",
    "verify_model",
    "write_rows",
]
