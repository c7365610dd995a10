"""Checkpoints: written atomically (temporary file, fsync, rename), loaded as data only, checked whole, restored
all or nothing.

One mechanism for every example that resumes (:class:`RunCheckpoint`): the state dicts of its modules
(models, optimizers, schedulers), torch's RNG state and the sampling RNG states of its ``bridge.qiskit``
devices, where the run stands (``progress``), its history, the seconds spent, the run's identity (its resolved
profile included), and a format version. Checkpoints are untrusted input (run folders are downloaded and
shared): one is bounded in size before it is read, every field is checked (:mod:`bridge.app.checkpoint_checks`)
before any is restored, and one written by another run, by another format, or altered, is refused with a
message naming the field.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import pickle
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bridge.app.checkpoint_checks import (
    EXECUTION_KEYS,
    FIX,
    Checked,
    check_archive,
    check_state,
    refused,
    shown,
    size_bound,
)
from bridge.app.run_folder import write_atomic
from bridge.exceptions import BridgeError

if TYPE_CHECKING:
    from bridge.profiles import Profile

FORMAT = 2  # 1: the unversioned checkpoints of qml-bridge 0.1.0 before this module
IDENTITY_DEFAULTS = {"world_size": 1}  # identity keys added since format 2, as older checkpoints meant them
PROFILE_KEYS = ("profile_sha256", "backend")  # the resolved profile, in the identity since issue #22
DEFAULT_MAX_BYTES = 2**32  # a checkpoint read without a model to size it by: 4 GiB at most, unpacked
__all__ = [
    "EXECUTION_KEYS",
    "FORMAT",
    "RunCheckpoint",
    "backend_name",
    "load_checkpoint",
    "profile_identity",
    "rank_state",
    "save_checkpoint",
    "write_json",
]


def _write_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, write)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with ``torch.save`` so that ``path`` is either the old or the new file, never half."""
    _write_atomic(path, lambda f: torch.save(state, f))


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    _write_atomic(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def load_checkpoint(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, as data only, bounded in size.

    Before anything is read, the file must be the zip archive ``torch.save`` writes, and neither it nor its
    entries unpacked may exceed ``max_bytes`` (a compression bomb is refused unread). It is then read with
    ``torch.load(..., weights_only=True)``: tensors, numbers, strings and containers of them, nothing that can
    run code. A checkpoint is a file people download and share; one that holds any other object (a pickled
    function, a class instance) is refused, and nothing in it is executed.

    Args:
        path: the checkpoint file.
        max_bytes: the most bytes it may hold unpacked (:meth:`RunCheckpoint.restore` derives it from the run).

    Raises:
        BridgeError: the file does not exist, is too large, is no zip archive, cannot be read, or holds something
            other than data.
    """
    if not path.is_file():
        raise BridgeError(f"no checkpoint at {path} to resume from; run without --resume first")
    check_archive(path, max_bytes, f"checkpoint {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = str(e).split("\n\n")[1].strip() if "\n\n" in str(e) else str(e)
        raise BridgeError(
            f"checkpoint {path} holds more than tensors and plain data ({detail.splitlines()[0][:300]}); it was "
            "not written by qml-bridge and is not loaded, since loading it could run code. Delete it "
            "or use another --out"
        ) from e
    except (OSError, RuntimeError, EOFError, ValueError, MemoryError) as e:
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise BridgeError(f"checkpoint {path} cannot be read ({first}); delete it and start again") from e
    if not isinstance(state, dict):
        raise BridgeError(
            f"checkpoint {path} holds a {type(state).__name__}, not a qml-bridge checkpoint "
            "(a dictionary); delete it and start again"
        )
    return state


def profile_identity(profile: Profile) -> dict[str, str]:
    """What a profile resolved to, for a run's identity: a sha256 of its resolved settings (device, diff method,
    shots, seed, the ``[qiskit]`` and ``[ibm]`` tables; not its name, description or file) and the backend it
    runs on. A profile file of the same name that now resolves to another device or settings is another run."""
    settings = {k: v for k, v in dataclasses.asdict(profile).items() if k not in ("name", "description", "source")}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return {"profile_sha256": digest, "backend": backend_name(profile)}


def backend_name(profile: Profile) -> str:
    """The backend a profile runs its circuits on, in words, without building it: ``aer_simulator``,
    ``aer_simulator with fake_brisbane noise``, ``fake_manila (local mode)``, ``IBM Quantum ibm_kyiv``,
    ``default.qubit`` …"""
    qiskit = profile.qiskit
    if profile.device not in ("qiskit.aer", "qiskit.remote", "bridge.qiskit"):
        return profile.device
    if qiskit.noise_backend:
        return f"aer_simulator with {_fake_name(qiskit.noise_backend)} noise"
    if qiskit.backend == "fake":
        return f"{_fake_name(profile.ibm.backend)} (local mode)"
    if profile.device == "qiskit.remote" or qiskit.backend == "ibm":
        return f"IBM Quantum {profile.ibm.backend or '(least busy)'}"
    return "aer_simulator" + (" on GPU" if qiskit.device == "GPU" else "")


def _fake_name(name: str) -> str:
    """A fake IBM device's name as IBM writes it (``FakeBrisbane``, ``brisbane`` → ``fake_brisbane``)."""
    stem = name.removeprefix("fake_").removeprefix("Fake").removesuffix("V2").replace("_", "").lower()
    return f"fake_{stem}"


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
        history_keys: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Load the checkpoint into ``modules`` and ``devices`` and return its ``progress``, ``history``,
        ``seconds`` and ``execution``: all of it, or (refused) nothing.

        The file is bounded by the size of the run's own state before it is read; every field is checked
        against the run before any is applied; and if applying one fails, what was applied is put back.

        Args:
            modules: name → object with ``load_state_dict`` (as given to :meth:`save`).
            devices: the run's quantum devices.
            epochs: the run's epochs (a checkpoint cannot be further than that).
            steps_per_epoch: optimizer steps per epoch, where steps are counted.
            rank: this process's rank in a distributed run (its own RNG states and counts are restored).
            history_keys: the history entries the run keeps (``None``: any).

        Raises:
            BridgeError: another run's checkpoint, or a field that is unknown, missing or malformed (named).
        """
        where = f"checkpoint {self.path}"
        state = load_checkpoint(self.path, size_bound(modules))
        self._check_identity(state, where)
        checked = check_state(
            state,
            where,
            modules,
            devices,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            rank=rank,
            history_keys=history_keys,
        )
        _apply(checked, modules, devices, where)
        return {
            "progress": checked.progress,
            "history": checked.history,
            "seconds": checked.seconds,
            "execution": checked.execution,
        }

    def _check_identity(self, state: dict[str, Any], where: str) -> None:
        """Refuse another format's checkpoint, or another run's (the differing identity keys named)."""
        if not _same(state.get("format"), FORMAT):
            raise BridgeError(
                f"{where} has format {shown(state.get('format', 1))}, this qml-bridge reads format {FORMAT}; "
                "start the run again without --resume (or with another --out)"
            )
        identity = state.get("identity")
        if not isinstance(identity, dict):
            raise refused(where, "'identity'", f"must be a dictionary, got {type(identity).__name__}")
        differing = {
            k: (identity.get(k, IDENTITY_DEFAULTS.get(k)), v)
            for k, v in self.identity.items()
            if not _same(identity.get(k, IDENTITY_DEFAULTS.get(k)), v)
        }
        if "world_size" in differing:
            before, now = differing["world_size"]
            raise BridgeError(
                f"{where} was written by a run on {shown(before)} process(es), this one has {now}: resume with the "
                f"same world size (torchrun --nproc-per-node {shown(before)} … --resume, or no torchrun for 1), or "
                "use another --out"
            )
        if "profile" not in differing and any(k in differing for k in PROFILE_KEYS):
            raise _profile_refusal(where, self.identity, identity)
        if differing:
            told = ", ".join(f"{k} {shown(old)} (now {shown(new)})" for k, (old, new) in differing.items())
            raise BridgeError(
                f"{where} was written by another run: {told}; resume with the same options, or use another --out"
            )


def _same(saved: Any, now: Any) -> bool:
    """Whether a value read from a checkpoint is the run's own: of the same plain type and equal (a crafted value,
    say a tensor, is never compared elementwise)."""
    return type(saved) is type(now) and bool(saved == now)


def _profile_refusal(where: str, now: Mapping[str, Any], before: Mapping[str, Any]) -> BridgeError:
    """The refusal of a checkpoint whose profile, of the same name, resolved to another device or settings."""
    name, fix = now.get("profile"), "resume with the profile the run started with, or use another --out"
    if not all(isinstance(before.get(k), str) for k in PROFILE_KEYS):
        return BridgeError(
            f"{where} records no resolved profile (it was written before qml-bridge recorded which device a "
            f"profile resolves to), so it cannot be told whether profile {name!r} still resolves to the same "
            f"device (now {now.get('backend')}); start the run again without --resume, or use another --out"
        )
    if before["backend"] != now.get("backend"):
        return BridgeError(
            f"{where}: profile {name!r} resolved to another device: backend {before['backend'][:100]} (now "
            f"{now.get('backend')}); {fix}"
        )
    return BridgeError(
        f"{where}: profile {name!r} resolved to other settings on the same backend ({now.get('backend')}): "
        f"profile sha256 {before['profile_sha256'][:12]}… (now {str(now.get('profile_sha256'))[:12]}…); its "
        f"shots, seed, diff method or options changed since the run started; {fix}"
    )


def _apply(checked: Checked, modules: Mapping[str, Any], devices: Sequence[Any], where: str) -> None:
    """Restore a checked checkpoint into the modules, torch's RNG (and CUDA's, on a GPU run) and the devices;
    if any part fails, put back what was applied first (the states as they were are copied beforehand)."""
    before = _snapshot(modules, devices)
    touched: list[str] = []  # the modules loaded into, the one that failed (perhaps half-loaded) included
    part = ""
    try:
        for part, module in modules.items():
            touched.append(part)
            module.load_state_dict(checked.modules[part])
        part = "torch_rng"
        torch.set_rng_state(checked.torch_rng)
        if checked.cuda_rng is not None and torch.cuda.is_initialized():  # a GPU run resumed by a GPU run
            part = "cuda_rng"
            torch.cuda.set_rng_state(checked.cuda_rng)
        part = "device_rngs"
        for device, rng in zip(devices, checked.device_rngs, strict=True):
            if rng is not None:
                device.rng_state = rng
    except BaseException as e:
        _put_back(before, {name: modules[name] for name in touched}, devices)
        if not isinstance(e, Exception):
            raise
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise BridgeError(
            f"{where}: the state of {part!r} could not be applied ({first}); nothing of it was restored, this "
            f"run's state is as before; {FIX}"
        ) from e


def _snapshot(modules: Mapping[str, Any], devices: Sequence[Any]) -> dict[str, Any]:
    """Copies of the modules' states and of the RNG states a restore sets."""
    return {
        "modules": {name: copy.deepcopy(m.state_dict()) for name, m in modules.items()},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
        "device_rngs": [copy.deepcopy(getattr(d, "rng_state", None)) for d in devices],
    }


def _put_back(before: dict[str, Any], modules: Mapping[str, Any], devices: Sequence[Any]) -> None:
    """Undo a partial restore: the states :func:`_snapshot` copied, set again (``modules``: those loaded into).
    A module that refuses even its own earlier state (the one whose loading failed) is left as that failure
    left it; the error raised names it."""
    for name, module in modules.items():
        with contextlib.suppress(Exception):
            module.load_state_dict(before["modules"][name])
    torch.set_rng_state(before["torch_rng"])
    if before["cuda_rng"] is not None:
        torch.cuda.set_rng_state(before["cuda_rng"])
    for device, rng in zip(devices, before["device_rngs"], strict=True):
        if rng is not None:
            device.rng_state = rng
