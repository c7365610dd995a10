"""The device's preprocessing: what turns a user's tape into tapes the device runs, and which tapes its own
parameter-shift rule can differentiate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices import ExecutionConfig
from pennylane.devices.preprocess import (
    decompose,
    device_resolve_dynamic_wires,
    validate_device_wires,
    validate_measurements,
)
from pennylane.math import Interface
from pennylane.measurements import VarianceMP
from pennylane.pauli import PauliSentence
from pennylane.transforms import split_non_commuting
from pennylane.transforms.core import CompilePipeline
from pennylane.wires import Wires

from bridge.broadcast import split_broadcast, split_broadcast_for

# diff_method values the device answers with its own batched parameter-shift rule (PennyLane's parameter-shift
# transform would compute the same derivatives with one tape per shifted circuit), and those it cannot serve
DEVICE_GRADIENT_METHODS = ("best", "device", "parameter-shift")
UNSUPPORTED_GRADIENT_METHODS = ("adjoint", "backprop")
# Operators whose data are matrices or state vectors, not rotation angles: the device's shift rule cannot
# differentiate them (PennyLane's transforms can, by decomposing further).
NOT_ANGLES = frozenset(
    {
        "QubitUnitary",
        "ControlledQubitUnitary",
        "DiagonalQubitUnitary",
        "StatePrep",
        "AmplitudeEmbedding",
        "MottonenStatePreparation",
        "BlockEncode",
        "SpecialUnitary",
        "QubitDensityMatrix",
    }
)


BATCH_UNSAFE_DECOMPOSITIONS = frozenset({"FermionicSWAP"})


def device_program(wires: Wires, operations: frozenset[str], config: ExecutionConfig | None) -> CompilePipeline:
    """The preprocessing pipeline of a device on ``wires`` that runs ``operations`` natively."""
    program = CompilePipeline()
    program.add_transform(validate_device_wires, wires=wires, name="bridge.qiskit")
    # PennyLane's decompositions of some gates fail on a batch (FermionicSWAP's builds a qml.exp of a tensor): a
    # broadcast tape holding one is split per sample first (its samples still share one structure, hence one PUB).
    # tests/layers/test_user_qnode.py runs PennyLane's parametric gates batched through the device.
    program.add_transform(split_broadcast_for, needs_split=lambda op: op.name in BATCH_UNSAFE_DECOMPOSITIONS)
    program.add_transform(
        decompose,
        stopping_condition=lambda op: op.name in operations,
        target_gates=operations,
        device_wires=wires,
        skip_initial_state_prep=False,
        name="bridge.qiskit",
    )
    program.add_transform(device_resolve_dynamic_wires, wires=wires, allow_resets=False)
    program.add_transform(validate_measurements, name="bridge.qiskit")
    program.add_transform(variance_of_sums)
    program.add_transform(split_when_sampling)
    if config is not None and config.gradient_method == "device" and config.interface != Interface.TORCH:
        # PennyLane contracts a broadcast tape's Jacobian into one number per parameter, where a trainable
        # batched input needs one per sample: such tapes are split per sample (the samples' rows still share one
        # PUB). For torch the device adds the same split only for tapes whose inputs require gradients
        # (QiskitBatchDevice.preprocess_transforms).
        program.add_transform(split_broadcast, always=False)
    return program


def device_differentiable(tape: qml.tape.QuantumScript) -> bool:
    """Whether the device's shift rule covers every trainable parameter of ``tape`` (before decomposition):
    operation data that are not matrices or states, no trainable observable coefficient, one shot number."""
    if tape.shots.has_partitioned_shots:
        return False
    trainable = set(tape.trainable_params)
    index = 0
    for op in tape.operations:
        for _ in op.data:
            if index in trainable and op.name in NOT_ANGLES:
                return False
            index += 1
    return all(i < index for i in trainable)


def _is_sum_variance(m: Any) -> bool:
    """A variance of an observable with several Pauli terms (which ``split_non_commuting`` cannot split)."""
    return (
        isinstance(m, VarianceMP)
        and m.obs is not None
        and m.obs.pauli_rep is not None
        and len([w for w in m.obs.pauli_rep if len(w)]) > 1
    )


@qml.transform
def variance_of_sums(tape: qml.tape.QuantumScript) -> tuple[list[qml.tape.QuantumScript], Callable]:
    """With shots, ``var(O)`` of a Pauli sum ``O = Σ c_i P_i`` becomes ``⟨O²⟩ − ⟨O⟩²``: two Pauli-sum expectation
    values that ``split_non_commuting`` measures in qubit-wise commuting groups (hardware-friendly; no basis
    change into O's eigenbasis). Where ``O² = c·I`` (pairwise anticommuting terms, e.g. ``0.5 Z + 0.8 X``), only
    ``⟨O⟩`` is measured and ``⟨O²⟩`` is the number ``c``. Exact tapes keep the variance (the exact readers compute it
    directly).
    """
    if not tape.shots or not any(_is_sum_variance(m) for m in tape.measurements):
        return [tape], lambda results: results[0]
    measurements: list[Any] = []
    # per original measurement: index of ⟨O⟩ (or of the measurement itself), index of ⟨O²⟩, and c where O² = c·I
    slots: list[tuple[int, int | None, float | None]] = []
    for m in tape.measurements:
        if not _is_sum_variance(m):
            measurements.append(m)
            slots.append((len(measurements) - 1, None, None))
            continue
        rep = m.obs.pauli_rep
        square = rep @ rep  # Hermitian: the imaginary parts of P_i P_j + P_j P_i cancel
        square = PauliSentence({w: float(np.real(c)) for w, c in square.items() if abs(c) > 1e-12})
        measurements.append(qml.expval(rep.operation(wire_order=m.obs.wires)))
        if all(not len(w) for w in square):
            # pairwise anticommuting terms: O² = c·I, so ⟨O²⟩ = c exactly, a number (measuring c·I would give a
            # constant NumPy array, which cannot be combined with a batch of torch tensors)
            slots.append((len(measurements) - 1, None, float(sum(square.values()))))
        else:
            measurements.append(qml.expval(square.operation(wire_order=m.obs.wires)))
            slots.append((len(measurements) - 2, len(measurements) - 1, None))
    rewritten = tape.copy(measurements=measurements)
    single = len(tape.measurements) == 1

    def combine(values: Sequence[Any]) -> Any:
        values = [values] if len(measurements) == 1 else values
        out = []
        for i, square, c in slots:
            if c is not None:
                out.append(c - values[i] ** 2)
            elif square is not None:
                out.append(values[square] - values[i] ** 2)
            else:
                out.append(values[i])
        return out[0] if single else tuple(out)

    def postprocess(results: Sequence[Any]) -> Any:
        (result,) = results
        if tape.shots.has_partitioned_shots:
            return tuple(combine(r) for r in result)
        return combine(result)

    return [rewritten], postprocess


@qml.transform
def split_when_sampling(tape: qml.tape.QuantumScript) -> tuple[list[qml.tape.QuantumScript], Callable]:
    """``split_non_commuting`` for tapes with shots only (samples need one basis per tape).

    Exact tapes keep every measurement: the exact readers handle any mix of observables, and not
    splitting keeps Hamiltonian coefficients out of the interface's (float32) post-processing.
    """
    if tape.shots:
        return split_non_commuting(tape)
    return [tape], lambda results: results[0]
