"""Checkpoints: written atomically (temporary file, fsync, rename), loaded as data only, validated field by field.

One mechanism for every example that resumes (:class:`RunCheckpoint`): the state dicts of its modules
(models, optimizers, schedulers), torch's RNG state and the sampling RNG states of its ``bridge.qiskit``
devices, where the run stands (``progress``), its history, the seconds spent, the run's identity, and a format
version. A checkpoint written by another run, or by another format, is refused with a message naming the field.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from bridge.exceptions import BridgeError
from bridge.run_folder import write_atomic

FORMAT = 2  # 1: the unversioned checkpoints of qml-bridge 0.1.0 before this module
IDENTITY_DEFAULTS = {"world_size": 1}  # identity keys added since format 2, as older checkpoints meant them


def _write_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, write)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with ``torch.save`` so that ``path`` is either the old or the new file, never half."""
    _write_atomic(path, lambda f: torch.save(state, f))


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    _write_atomic(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, as data only.

    The file is read with ``torch.load(..., weights_only=True)``: tensors, numbers, strings and containers
    of them, nothing that can run code. A checkpoint is a file people download and share; one that holds
    any other object (a pickled function, a class instance) is refused, and nothing in it is executed.

    Raises:
        BridgeError: the file does not exist, cannot be read, or holds something other than data.
    """
    if not path.is_file():
        raise BridgeError(f"no checkpoint at {path} to resume from; run without --resume first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = str(e).split("\n\n")[1].strip() if "\n\n" in str(e) else str(e)
        raise BridgeError(
            f"checkpoint {path} holds more than tensors and plain data ({detail}); it was not "
            "written by qml-bridge and is not loaded, since loading it could run code. Delete it "
            "or use another --out"
        ) from e
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise BridgeError(f"checkpoint {path} cannot be read ({e}); delete it and start again") from e
    if not isinstance(state, dict):
        raise BridgeError(
            f"checkpoint {path} holds a {type(state).__name__}, not a qml-bridge checkpoint "
            "(a dictionary); delete it and start again"
        )
    return state


def rank_state(devices: Sequence[Any], execution: Mapping[str, int] | None) -> dict[str, Any]:
    """What differs per process of a run: torch's RNG state (and its current GPU's, where CUDA is in use: dropout
    on a GPU draws there), the devices' sampling RNG states (``None`` where a device has none) and the execution
    counts (``{}`` without a ``bridge.qiskit`` device)."""
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
        "device_rngs": [getattr(d, "rng_state", None) for d in devices],
        "execution": dict(execution or {}),
    }


class RunCheckpoint:
    """The checkpoint of one run, at ``path``.

    Args:
        path: the checkpoint file.
        identity: what makes a run this run (example, profile, shots, seed, batch size, …); a checkpoint
            whose identity differs is refused on resume.
    """

    def __init__(self, path: Path, identity: Mapping[str, Any]) -> None:
        self.path = path
        self.identity = dict(identity)

    def save(
        self,
        modules: Mapping[str, Any],
        devices: Sequence[Any],
        progress: Mapping[str, Any],
        history: Mapping[str, list[float]],
        seconds: float,
        execution: Mapping[str, int] | None = None,
        *,
        ranks: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Write the run's state atomically.

        Args:
            modules: name → object with ``state_dict()`` (models, optimizers, schedulers).
            devices: the run's quantum devices (their sampling RNG states are saved where they have one).
            progress: where the run stands (``epoch``, ``step`` and the running sums of the epoch in progress).
            history: per-epoch lists (``train_loss`` …).
            seconds: seconds spent on the run so far, across resumes.
            execution: primitive jobs, circuits and shots so far, across resumes (summed over ranks).
            ranks: in a distributed run, every rank's ``torch_rng``, ``device_rngs`` and ``execution`` (rank order);
                each rank restores its own.
        """
        save_checkpoint(
            {
                "format": FORMAT,
                "identity": self.identity,
                "modules": {name: m.state_dict() for name, m in modules.items()},
                **rank_state(devices, execution),
                "progress": dict(progress),
                "history": {k: list(v) for k, v in history.items()},
                "seconds": float(seconds),
                **({"ranks": [dict(r) for r in ranks]} if ranks else {}),
            },
            self.path,
        )

    def restore(
        self,
        modules: Mapping[str, Any],
        devices: Sequence[Any],
        *,
        epochs: int,
        steps_per_epoch: int | None = None,
        rank: int = 0,
    ) -> dict[str, Any]:
        """Load the checkpoint into ``modules`` and ``devices`` and return its ``progress``, ``history``,
        ``seconds`` and ``execution``.

        Args:
            modules: name → object with ``load_state_dict`` (as given to :meth:`save`).
            devices: the run's quantum devices.
            epochs: the run's epochs (a checkpoint cannot be further than that).
            steps_per_epoch: optimizer steps per epoch, where steps are counted.
            rank: this process's rank in a distributed run (its own RNG states and counts are restored).

        Raises:
            BridgeError: another run's checkpoint, or a field that is missing or malformed (named).
        """
        state = load_checkpoint(self.path)
        where = f"checkpoint {self.path}"
        if state.get("format") != FORMAT:
            raise BridgeError(
                f"{where} has format {state.get('format', 1)!r}, this qml-bridge reads format {FORMAT}; "
                "start the run again without --resume (or with another --out)"
            )
        identity = _field(state, "identity", dict, where)
        differing = {
            k: (identity.get(k, IDENTITY_DEFAULTS.get(k)), v)
            for k, v in self.identity.items()
            if identity.get(k, IDENTITY_DEFAULTS.get(k)) != v
        }
        if "world_size" in differing:
            before, now = differing["world_size"]
            raise BridgeError(
                f"{where} was written by a run on {before} process(es), this one has {now}: resume with the same "
                f"world size (torchrun --nproc-per-node {before} … --resume, or no torchrun for 1), or use another "
                "--out"
            )
        if differing:
            told = ", ".join(f"{k} {old!r} (now {new!r})" for k, (old, new) in differing.items())
            raise BridgeError(
                f"{where} was written by another run: {told}; resume with the same options, or use another --out"
            )
        saved = _field(state, "modules", dict, where)
        for name, module in modules.items():
            if name not in saved:
                raise BridgeError(f"{where} has no state for {name!r}; it was written by another example")
            try:
                module.load_state_dict(saved[name])
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                raise BridgeError(
                    f"{where}: the state of {name!r} does not fit this run's {name} "
                    f"({str(e).splitlines()[0]}); it was written by another model"
                ) from e
        own = _rank_state(state, rank, where)
        try:
            torch.set_rng_state(_field(own, "torch_rng", torch.Tensor, where))
        except (RuntimeError, TypeError) as e:
            raise BridgeError(f"{where}: field 'torch_rng' is not a torch RNG state ({e})") from e
        cuda_rng = own.get("cuda_rng")
        if cuda_rng is not None and torch.cuda.is_initialized():  # a GPU run resumed by a GPU run
            try:
                torch.cuda.set_rng_state(_field(own, "cuda_rng", torch.Tensor, where))
            except (RuntimeError, TypeError) as e:
                raise BridgeError(f"{where}: field 'cuda_rng' is not a CUDA RNG state ({e})") from e
        rngs = _field(own, "device_rngs", list, where)
        for device, rng in zip(devices, rngs, strict=False):
            if rng is not None and hasattr(device, "rng_state"):
                try:
                    device.rng_state = rng
                except (TypeError, ValueError, KeyError) as e:
                    raise BridgeError(f"{where}: field 'device_rngs' is not a sampler RNG state ({e})") from e
        progress = _progress(_field(state, "progress", dict, where), epochs, steps_per_epoch, where)
        history = _field(state, "history", dict, where)
        for key, values in history.items():
            if (
                not isinstance(values, list)
                or len(values) != progress["epoch"]
                or not all(isinstance(v, int | float) for v in values)
            ):
                raise BridgeError(
                    f"{where}: field 'history' entry {key!r} must list one number per finished "
                    f"epoch ({progress['epoch']}), got {values!r}"
                )
        seconds = _field(state, "seconds", float, where)
        execution = _field(own, "execution", dict, where)
        return {"progress": progress, "history": history, "seconds": seconds, "execution": execution}


def _rank_state(state: dict[str, Any], rank: int, where: str) -> dict[str, Any]:
    """The fields that differ per rank (``torch_rng``, ``device_rngs``, ``execution``): the checkpoint's own for
    a one-process run, ``ranks[rank]`` for a distributed one."""
    if "ranks" not in state:
        return state
    ranks = _field(state, "ranks", list, where)
    if not 0 <= rank < len(ranks) or not isinstance(ranks[rank], dict):
        raise BridgeError(f"{where}: field 'ranks' has no state for rank {rank}; it holds {len(ranks)} rank(s)")
    return ranks[rank]


def _field(state: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in state:
        raise BridgeError(f"{where} has no field {name!r}; it was not written by this version of qml-bridge")
    value = state[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BridgeError(f"{where}: field {name!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _progress(progress: dict[str, Any], epochs: int, steps_per_epoch: int | None, where: str) -> dict[str, Any]:
    for key in ("epoch", "step"):
        value = progress.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BridgeError(f"{where}: field 'progress' needs a non-negative integer {key!r}, got {value!r}")
    if progress["epoch"] > epochs:
        raise BridgeError(
            f"{where}: it is at epoch {progress['epoch']}, beyond this run's {epochs}; resume with "
            f"--epochs {progress['epoch']} or more"
        )
    if steps_per_epoch is not None and progress["step"] > steps_per_epoch:
        raise BridgeError(
            f"{where}: field 'progress' is at step {progress['step']} of an epoch of "
            f"{steps_per_epoch} steps; it was written with another batch size or data set"
        )
    return progress
