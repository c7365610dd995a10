"""Split a broadcast tape into one tape per sample, without changing any value.

PennyLane's gradient transforms (parameter-shift, finite differences, SPSA) refuse tapes whose broadcast
parameters are trainable (PennyLane #6078), and devices without native broadcasting expand broadcast tapes
with ``qml.transforms.broadcast_expand``. That transform rebinds parameters with ``bind_new_parameters``,
which for some gates (``MultiRZ``, ``PCPhase``: their hyperparameters are not constructor arguments) falls
back to a deep copy that keeps the operator's cached batch size; every "split" tape then still claims the
whole batch and devices return wrong values or shapes.

:func:`split_broadcast` rebuilds each sample's operators through PennyLane's public pytree functions
(``qml.pytrees.flatten``/``unflatten``, which run the operator's constructor, so batching is recomputed),
and checks that no split operator is still broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pennylane as qml
from pennylane.exceptions import DeviceError
from pennylane.operation import Operator
from pennylane.ops.functions import bind_new_parameters
from pennylane.tape import QuantumScript


def sample_operator(op: Operator, index: int) -> Operator:
    """The operator of broadcast sample ``index``: every batched datum replaced by its ``index``-th entry.

    Raises:
        DeviceError: the operator cannot be rebuilt unbatched (it would silently keep the whole batch).
    """
    if not op.batch_size:
        return op
    params = [p if qml.math.ndim(p) == nd else p[index] for p, nd in zip(op.data, op.ndim_params, strict=True)]
    leaves, structure = qml.pytrees.flatten(op)
    if len(leaves) == len(op.data) and all(a is b for a, b in zip(leaves, op.data, strict=True)):
        sample = qml.pytrees.unflatten(params, structure)
    else:  # pragma: no cover - no operator of PennyLane 0.45's gate set takes this path (test_broadcast)
        sample = bind_new_parameters(op, params)
    if sample.batch_size is not None:
        raise DeviceError(
            f"cannot split the broadcast {op.name} into single samples (it keeps a batch of "
            f"{sample.batch_size}); call the circuit once per sample instead"
        )
    return sample


def has_trainable_broadcast(tape: QuantumScript) -> bool:
    """Whether a trainable parameter of ``tape`` is broadcast (PennyLane's gradient transforms refuse it)."""
    if tape.batch_size is None:
        return False
    trainable = set(tape.trainable_params)
    index = 0
    for op in tape.operations:
        batched = bool(op.batch_size)
        for datum, nd in zip(op.data, op.ndim_params if batched else [None] * len(op.data), strict=True):
            if batched and index in trainable and qml.math.ndim(datum) != nd:
                return True
            index += 1
    return False


def _stack(results: Sequence[Any], tape: QuantumScript) -> Any:
    """Per-sample results → the broadcast tape's result (PennyLane's layout: batch dimension first)."""
    n_meas = len(tape.measurements)
    if tape.shots.has_partitioned_shots:
        copies = tape.shots.num_copies
        if n_meas > 1:
            return tuple(
                tuple(qml.math.stack([r[s][m] for r in results]) for m in range(n_meas)) for s in range(copies)
            )
        return tuple(qml.math.stack([r[s] for r in results]) for s in range(copies))
    if n_meas > 1:
        return tuple(qml.math.stack([r[m] for r in results]) for m in range(n_meas))
    return qml.math.stack(list(results))


@qml.transform
def split_broadcast(tape: QuantumScript, always: bool = True) -> tuple[Sequence[QuantumScript], Callable]:
    """One tape per broadcast sample (``always``), or only when a broadcast parameter is trainable.

    Args:
        tape: a tape, broadcast or not.
        always: split every broadcast tape (devices without native broadcasting); with ``False``, split only
            tapes whose broadcast parameters are trainable (the case PennyLane's gradient transforms refuse).
    """
    if tape.batch_size is None or not (always or has_trainable_broadcast(tape)):
        return [tape], lambda results: results[0]
    tapes = [
        QuantumScript(
            [sample_operator(op, b) for op in tape.operations],
            tape.measurements,
            shots=tape.shots,
            trainable_params=tape.trainable_params,
        )
        for b in range(tape.batch_size)
    ]
    return tapes, lambda results: _stack(results, tape)


@qml.transform
def split_broadcast_for(
    tape: QuantumScript, needs_split: Callable[[Operator], bool]
) -> tuple[Sequence[QuantumScript], Callable]:
    """One tape per broadcast sample when a broadcast operator satisfies ``needs_split``, else the tape."""
    always = any(op.batch_size and needs_split(op) for op in tape.operations)
    return split_broadcast.tape_transform(tape, always=always) if always else ([tape], lambda results: results[0])
