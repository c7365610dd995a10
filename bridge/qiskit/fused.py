"""One primitive job per training step: a differentiated tape's own rows and its parameter-shifted rows together.

Fused (the default), the device sets PennyLane's ``grad_on_execution``: PennyLane's ``DeviceDerivatives``
(``pennylane/workflow/jacobian_products.py``) then runs the forward pass as
``execute_and_cache_jacobian`` → ``device.execute_and_compute_derivatives``, one job with every tape's own rows
and its shifted rows (:func:`prepare`), and keeps the Jacobians in its own cache (``_jacs_cache``, keyed by the
batch of tapes the torch backward passes back), from which ``compute_vjp`` contracts the cotangents without a job.
Its Jacobians are full ones, contracted by ``qml.gradients.compute_vjp_single``, which gives one number per
parameter: a broadcast tape whose inputs are trainable is split per sample first (its samples' rows still share
one PUB, so still one job; measured at batch 16, 4 qubits, inputs trainable: 95 → 114 ms CPU per step, the
per-tape preparation of 16 tapes; weights only: unchanged, the tape stays broadcast).

Two-job mode (``fuse_gradient = false``, ``grad_on_execution=False``): PennyLane runs the forward pass through
``device.execute`` on its inner-transformed tapes and asks ``device.compute_derivatives`` in the backward pass for
other tape objects (NumPy copies). The backward job must send the shifted rows alone and use the forward outputs
(a variance's derivative, d⟨O²⟩ − 2⟨O⟩ d⟨O⟩, needs ⟨O⟩ at the unshifted angles) and the tape's shot stream (the
same draws as fused), so :class:`ForwardOutputs` keeps them, keyed by the tape's content (structure, angles,
trainable parameters). What is not found (a forward pass computed elsewhere, or one evicted) is run whole: one
job for all missing tapes, their own rows included.

Shots the bridge draws itself (the ideal simulator's counts) come from one generator per tape, seeded from the
device's generator when the tape is first prepared: its own rows draw first, then its shifted rows, whichever
job carries them, so both modes give the same numbers for the same seed. (Tapes whose shots a primitive draws
— noisy simulators, fake and real IBM devices, ``qml.sample`` — take one seed per job, and two-job mode has
one job more per step: the same distribution there, not the same draws.)

A tape with nothing trainable (an evaluation, or ``torch.no_grad()`` through :class:`bridge.QuantumLayer`)
sends its forward rows only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pennylane as qml

from bridge.qiskit.batching import NOTHING_SENT
from bridge.qiskit.shift import ShiftPlan, shift_plan, shiftable
from bridge.qiskit.structure import TapeValues, structure_key, tape_values


@dataclass(frozen=True)
class Prepared:
    """A tape with the rows it sends: its own angle rows, then (when it is differentiated) its shifted rows.

    Attributes:
        tape: the tape, wires ``0..n-1``.
        kind: how it runs (see :func:`bridge.qiskit.batching.tape_kind`).
        values: its angle rows ``(n, n_params)`` and broadcast size.
        plan: its parameter-shift plan, or ``None`` when its shifted rows are not sent.
        stream: the generator its shots are drawn from, where the bridge draws them (``None``: the primitive's).
    """

    tape: qml.tape.QuantumScript
    kind: str
    values: TapeValues
    plan: ShiftPlan | None
    stream: np.random.Generator | None = None

    @property
    def rows(self) -> np.ndarray:
        """Rows to run: ``(n + shifted, n_params)``."""
        if self.plan is None or not len(self.plan.rows):
            return self.values.values
        return self.plan.with_base

    @property
    def key(self) -> Hashable:
        """Equal for tapes of equal content (what links a backward request to its forward pass)."""
        return (structure_key(self.tape, self.kind), self.values.values.tobytes(), tuple(self.tape.trainable_params))


def prepare(
    tape: qml.tape.QuantumScript,
    kind: str,
    *,
    shifted: bool,
    required: bool = False,
    stream: np.random.Generator | None = None,
) -> Prepared:
    """The tape's rows; its shifted rows too when ``shifted`` and it has trainable parameters, all of them gate
    angles (a forward pass never fails for what it cannot differentiate); ``required`` (a backward pass): plan
    them whatever they are, so that :func:`~bridge.qiskit.shift.shift_plan` names what cannot be differentiated.
    ``stream``: the generator its shots are drawn from, where the bridge draws them."""
    values = tape_values(tape)
    planned = shifted and tape.trainable_params and (required or shiftable(tape))
    plan = shift_plan(tape, values.values) if planned else None
    return Prepared(tape, kind, values, plan, stream)


Send = tuple[Prepared, np.ndarray]  # a prepared tape and the rows of it a job sends


class ForwardOutputs:
    """Two-job mode: outputs of forward passes that will be differentiated, waiting for their backward pass.

    Args:
        calls: forward calls whose outputs are kept (older ones are dropped; their backward runs their own rows
            again).
    """

    def __init__(self, calls: int = 4) -> None:
        self.calls = calls
        self._kept: OrderedDict[int, dict[Hashable, tuple[Prepared, object]]] = OrderedDict()
        self._counter = 0

    def keep(self, entries: list[tuple[Prepared, object]]) -> None:
        """Keep ``(prepared, evaluated)`` of one forward call's tapes that have trainable parameters."""
        entries = [(p, e) for p, e in entries if p.tape.trainable_params]
        if not entries:
            return
        self._counter += 1
        self._kept[self._counter] = {p.key: (p, e) for p, e in entries}
        while len(self._kept) > self.calls:
            self._kept.popitem(last=False)

    def take(self, prepared: Prepared) -> tuple[Prepared, object] | None:
        """The kept forward pass of a tape of equal content (removed once taken), or ``None``."""
        key = prepared.key
        for call in reversed(self._kept):
            found = self._kept[call].pop(key, None)
            if found is not None:
                if not self._kept[call]:
                    del self._kept[call]
                return found
        return None

    def resolve(
        self,
        tapes_and_kinds: Sequence[tuple[qml.tape.QuantumScript, str]],
        evaluate: Callable[[Sequence[Send]], list[Any]],
        stream: Callable[[str], np.random.Generator | None],
    ) -> list[tuple[Prepared, Any]]:
        """Per tape of a backward pass, its prepared rows (its own, then its shifted ones) and their outputs.

        Kept from the forward pass: its shifted rows alone are run, drawn from the tape's own ``stream``, and
        appended to the kept outputs. Not kept: its own and its shifted rows are run (a new stream from
        ``stream(kind)``). All runs go in one ``evaluate`` call; a tape with no shifted row (its only trainable
        angle a global phase) sends nothing.
        """
        pairs: list[tuple[Prepared, Any]] = []
        sends: list[tuple[int, Send, Any]] = []  # (tape index, what is sent, outputs kept from its forward pass)
        for i, (tape, kind) in enumerate(tapes_and_kinds):
            found = self.take(prepare(tape, kind, shifted=False))
            if found is None:
                p = prepare(tape, kind, shifted=True, required=True, stream=stream(kind))
                pairs.append((p, NOTHING_SENT))
                if p.plan is not None and len(p.plan.rows):
                    sends.append((i, (p, p.plan.with_base), None))
                continue
            p, e = found
            plan = shift_plan(tape, p.values.values)
            p = replace(p, plan=plan)
            if len(plan.rows):
                sends.append((i, (p, plan.rows), e))
            pairs.append((p, e))
        for (i, (p, _), kept), fresh in zip(sends, evaluate([send for _, send, _ in sends]), strict=True):
            pairs[i] = (p, fresh if kept is None else replace(kept, output=np.concatenate([kept.output, fresh.output])))
        return pairs

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._kept.values())
