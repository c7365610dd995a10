"""What a checkpoint may hold, checked before any of it is restored: checkpoints are untrusted input.

People download and share run folders, so a checkpoint is read as a stranger's file. Before ``torch.load`` the
file is opened as the zip archive ``torch.save`` writes, and its size, on disk and unpacked, is bounded by what a
checkpoint of this run can hold (:func:`size_bound`): a compression bomb is refused unread. After loading, every
field is checked against the run that resumes it (:func:`check_state`): no unknown key; module states of the
model's own keys, shapes and dtypes, finite; the optimizer's learning rates positive, its per-parameter state the
shape of its parameter; RNG states of the exact form this torch and NumPy take; counts whole and not negative;
history and seconds finite; the running sums of an epoch consistent. Each refusal is one line naming the
checkpoint and the field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bridge.app.checkpoint_checks.archive import check_archive, size_bound
from bridge.app.checkpoint_checks.basics import FIX, field, known, number, refused, shown
from bridge.app.checkpoint_checks.modules import check_module
from bridge.exceptions import BridgeError

__all__ = ["EXECUTION_KEYS", "FIX", "Checked", "check_archive", "check_state", "refused", "shown", "size_bound"]

EXECUTION_KEYS = ("primitive_jobs", "pub_rows", "circuit_shots")
PROGRESS_KEYS = ("epoch", "step", "loss_sum", "correct", "seen")
RANK_KEYS = ("torch_rng", "cuda_rng", "device_rngs", "execution")
TOP_KEYS = ("format", "identity", "modules", *RANK_KEYS, "progress", "history", "seconds", "ranks")
CUDA_RNG_BYTES = 1024  # a CUDA generator's state is 16 bytes; checked exactly where CUDA is in use


@dataclass(frozen=True)
class Checked:
    """A checkpoint's fields that passed every check, ready to apply (this rank's own RNG states and counts)."""

    modules: dict[str, Any]
    torch_rng: torch.Tensor
    cuda_rng: torch.Tensor | None
    device_rngs: list[Any]
    execution: dict[str, int]
    progress: dict[str, Any]
    history: dict[str, list[float]]
    seconds: float


def check_state(
    state: dict[str, Any],
    where: str,
    modules: Mapping[str, Any],
    devices: Sequence[Any],
    *,
    epochs: int,
    steps_per_epoch: int | None,
    rank: int,
    history_keys: Collection[str] | None,
) -> Checked:
    """Check every field of a loaded checkpoint against the run resuming it (see the module's docstring).

    Raises:
        BridgeError: the first field that is unknown, missing or malformed, named.
    """
    known(state, TOP_KEYS, "its top level", where)
    saved = field(state, "modules", Mapping, where)
    known(saved, modules, "'modules'", where)
    for name, module in modules.items():
        if name not in saved:
            raise BridgeError(f"{where} has no state for {name!r}; it was written by another example")
        check_module(saved[name], module, name, where)
    ranks = _rank_states(state, where)
    for at, fields in ranks:
        _check_rank(fields, devices, at, where)
    own = _own_rank(ranks, rank, where)
    progress = check_progress(field(state, "progress", Mapping, where), epochs, steps_per_epoch, where)
    history = check_history(field(state, "history", Mapping, where), progress["epoch"], history_keys, where)
    seconds = number(field(state, "seconds", object, where), "'seconds'", where, minimum=0)
    return Checked(
        modules={name: saved[name] for name in modules},
        torch_rng=own["torch_rng"],
        cuda_rng=own.get("cuda_rng"),
        device_rngs=list(own["device_rngs"]),
        execution=dict(own["execution"]),
        progress=progress,
        history=history,
        seconds=float(seconds),
    )


def _rank_states(state: Mapping[str, Any], where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Every set of per-rank fields in the checkpoint: its own (rank 0's, or the only rank's), and each of
    ``ranks`` in a distributed run's; as ``(field path, fields)``."""
    found: list[tuple[str, Mapping[str, Any]]] = [("", state)]
    if "ranks" in state:
        ranks = field(state, "ranks", list, where)
        if not ranks:
            raise refused(where, "'ranks'", "is empty")
        for index, own in enumerate(ranks):
            if not isinstance(own, Mapping):
                raise refused(where, f"'ranks'[{index}]", f"must be a dictionary, got {type(own).__name__}")
            known(own, RANK_KEYS, f"'ranks'[{index}]", where)
            found.append((f"'ranks'[{index}]", own))
    return found


def _own_rank(ranks: list[tuple[str, Mapping[str, Any]]], rank: int, where: str) -> Mapping[str, Any]:
    """This process's per-rank fields: the checkpoint's own in a one-process run, ``ranks[rank]`` in a
    distributed one (``ranks`` as :func:`_rank_states` lists them)."""
    if len(ranks) == 1:
        return ranks[0][1]
    if not 0 <= rank < len(ranks) - 1:
        raise refused(where, "'ranks'", f"has no state for rank {rank}; it holds {len(ranks) - 1} rank(s)")
    return ranks[rank + 1][1]


def _check_rank(own: Mapping[str, Any], devices: Sequence[Any], at: str, where: str) -> None:
    """``torch_rng``, ``cuda_rng``, ``device_rngs`` and ``execution`` of one rank."""
    for name in ("torch_rng", "device_rngs", "execution"):
        if name not in own:
            raise refused(where, _path(at, name), "is missing")
    check_torch_rng(own["torch_rng"], _path(at, "torch_rng"), where)
    if own.get("cuda_rng") is not None:
        check_cuda_rng(own["cuda_rng"], _path(at, "cuda_rng"), where)
    check_device_rngs(own["device_rngs"], devices, _path(at, "device_rngs"), where)
    check_execution(own["execution"], _path(at, "execution"), where)


def _path(at: str, name: str) -> str:
    """The path of field ``name`` under ``at`` (``""``: the top level)."""
    return f"{at}[{name!r}]" if at else repr(name)


def check_torch_rng(value: Any, at: str, where: str) -> None:
    """A CPU generator state: a uint8 vector of :func:`torch.get_rng_state`'s length, that a generator takes."""
    _byte_vector(value, torch.get_rng_state().numel(), "torch", at, where)
    try:
        torch.Generator().set_state(value)  # a scratch generator: the global one is set only after every check
    except (RuntimeError, ValueError, TypeError) as e:
        raise refused(where, at, f"is not a torch RNG state ({str(e).splitlines()[0]})") from e


def check_cuda_rng(value: Any, at: str, where: str) -> None:
    """A CUDA generator state: a uint8 vector; where CUDA is in use, of this GPU's state's length and taken by a
    generator (elsewhere it is not restored)."""
    if not torch.cuda.is_initialized():
        _byte_vector(value, None, "CUDA", at, where)
        return
    _byte_vector(value, torch.cuda.get_rng_state().numel(), "CUDA", at, where)
    try:
        torch.Generator(device=torch.device("cuda", torch.cuda.current_device())).set_state(value)
    except (RuntimeError, ValueError, TypeError) as e:
        raise refused(where, at, f"is not a CUDA RNG state ({str(e).splitlines()[0]})") from e


def _byte_vector(value: Any, length: int | None, kind: str, at: str, where: str) -> None:
    """A dense uint8 vector of ``length`` bytes (``None``: at most :data:`CUDA_RNG_BYTES`)."""
    expected = f"{length}" if length is not None else f"at most {CUDA_RNG_BYTES}"
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
        raise refused(where, at, f"is not a {kind} RNG state (a uint8 vector of {expected} bytes): got {shown(value)}")
    wrong_length = value.numel() != length if length is not None else value.numel() > CUDA_RNG_BYTES
    if value.dtype != torch.uint8 or value.dim() != 1 or wrong_length:
        raise refused(
            where,
            at,
            f"is not a {kind} RNG state (a uint8 vector of {expected} bytes): got {value.dtype} {tuple(value.shape)}",
        )


def check_device_rngs(value: Any, devices: Sequence[Any], at: str, where: str) -> None:
    """One entry per quantum device: ``None`` for a device without a sampler RNG, else a NumPy bit generator's
    state of the device's own kind (``bridge.qiskit``'s ``rng_state``), which a scratch generator takes as is."""
    if not isinstance(value, list) or len(value) != len(devices):
        got = f"{len(value)} entries" if isinstance(value, list) else type(value).__name__
        raise refused(where, at, f"must list one sampler RNG state per quantum device ({len(devices)}), got {got}")
    for index, (device, rng) in enumerate(zip(devices, value, strict=True)):
        current = getattr(device, "rng_state", None)
        if current is None:
            if rng is not None:
                raise refused(where, f"{at}[{index}]", "must be None: this device draws no samples of its own")
            continue
        _check_bit_generator(rng, current, f"{at}[{index}]", where)


def _check_bit_generator(rng: Any, current: Mapping[str, Any], at: str, where: str) -> None:
    """``rng`` is a state of the device's bit generator (``current``'s kind and keys) that a scratch generator of
    that kind takes unchanged (a value out of range, say a 200-bit integer, is not)."""
    kind = current.get("bit_generator")
    if not isinstance(rng, dict):
        raise refused(where, at, f"must be a {kind} state (a dictionary), got {type(rng).__name__}")
    theirs = rng.get("bit_generator")
    if not isinstance(theirs, str) or theirs != kind:
        raise refused(where, at, f"must be a {kind} state (this device's sampler), got one of {shown(theirs)}")
    if set(rng) != set(current):
        raise refused(where, at, f"must have the keys {', '.join(current)}, got {shown(sorted(map(str, rng)))}")
    scratch = getattr(np.random, str(kind), None)
    if scratch is None:
        return
    generator = scratch()
    try:
        generator.state = rng
        taken = generator.state == rng
    except (TypeError, ValueError, KeyError, OverflowError, RuntimeError) as e:  # RecursionError included
        raise refused(where, at, f"is not a {kind} state ({str(e).splitlines()[0][:200]})") from e
    if not taken:
        raise refused(where, at, f"is not a {kind} state (its values are out of range)")


def check_execution(value: Any, at: str, where: str) -> None:
    """Primitive jobs, PUB rows and circuit shots: whole numbers ≥ 0 (``{}`` without a ``bridge.qiskit`` device)."""
    if not isinstance(value, dict):
        raise refused(where, at, f"must be a dictionary of counts, got {type(value).__name__}")
    unknown = [k for k in value if k not in EXECUTION_KEYS]
    if unknown:
        raise refused(where, at, f"holds unknown count(s) {shown(unknown)} (known: {', '.join(EXECUTION_KEYS)})")
    for key, count in value.items():
        number(count, f"{at}[{key!r}]", where, integer=True, minimum=0)


def check_progress(progress: Mapping[str, Any], epochs: int, steps_per_epoch: int | None, where: str) -> dict[str, Any]:
    """Finished epochs, steps into the next one and that epoch's running sums (loss, correct, seen), consistent:
    no step without a sample seen (the loss is divided by them), no more correct than seen."""
    known(progress, PROGRESS_KEYS, "'progress'", where)
    checked: dict[str, Any] = {}
    for key in PROGRESS_KEYS:
        if key in ("epoch", "step") and key not in progress:
            raise refused(where, f"'progress'[{key!r}]", "is missing")
        value = progress.get(key, 0.0 if key == "loss_sum" else 0)
        integer = key != "loss_sum"
        checked[key] = number(value, f"'progress'[{key!r}]", where, integer=integer, minimum=0 if integer else None)
    checked["loss_sum"] = float(checked["loss_sum"])
    if checked["epoch"] > epochs:
        raise BridgeError(
            f"{where}: it is at epoch {checked['epoch']}, beyond this run's {epochs}; resume with "
            f"--epochs {checked['epoch']} or more"
        )
    if steps_per_epoch is not None and checked["step"] > steps_per_epoch:
        raise BridgeError(
            f"{where}: field 'progress' is at step {checked['step']} of an epoch of "
            f"{steps_per_epoch} steps; it was written with another batch size or data set"
        )
    _check_sums(checked, where)
    return checked


def _check_sums(progress: Mapping[str, Any], where: str) -> None:
    """The running sums of the epoch in progress: none at its step 0, a sample at least per step, no more
    correct than seen."""
    step, seen = progress["step"], progress["seen"]
    if step == 0 and (seen or progress["correct"] or progress["loss_sum"]):
        raise refused(where, "'progress'", f"has running sums ({shown(dict(progress))}) at step 0 of an epoch")
    if seen < step:
        raise refused(
            where, "'progress'['seen']", f"counts {seen} sample(s) seen in {step} step(s), fewer than one a step"
        )
    if progress["correct"] > seen:
        raise refused(where, "'progress'['correct']", f"counts {progress['correct']} correct of {seen} seen")


def check_history(
    history: Mapping[str, Any], epochs_done: int, keys: Collection[str] | None, where: str
) -> dict[str, list[float]]:
    """One finite number per finished epoch in each entry; the entries the run keeps (``keys``), no other."""
    if keys is not None:
        known(history, keys, "'history'", where)
    checked: dict[str, list[float]] = {}
    for key, values in history.items():
        at = f"'history' entry {shown(key)}"
        if not isinstance(key, str) or not isinstance(values, list) or len(values) != epochs_done:
            raise refused(where, at, f"must list one number per finished epoch ({epochs_done}), got {shown(values)}")
        checked[key] = [float(number(v, at, where)) for v in values]
    missing = [k for k in keys or () if k not in history]
    if missing:
        raise refused(where, f"'history' entry {missing[0]!r}", "is missing")
    return checked
