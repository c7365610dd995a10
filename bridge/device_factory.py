"""The PennyLane device a profile describes: ``bridge.qiskit`` for its own profiles, pennylane-qiskit's devices,
PennyLane's simulators. The only module that maps profiles onto PennyLane devices.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.exceptions import PennyLaneDeprecationWarning

from bridge.backends import qiskit_backend, transpile_options
from bridge.exceptions import InputError, ProfileError
from bridge.profiles import Profile, load_profile


def device(profile: str | Profile | None, wires: int) -> qml.devices.Device:
    """The PennyLane device a profile describes, with ``wires`` qubits.

    The profile's ``shots`` are the device's default shots (``None``: exact), so a QNode built on it samples
    exactly as the profile says; ``qml.set_shots`` (or a QNode's ``shots=``) overrides them for that QNode.
    This is the same rule on every path: ``qml.device("bridge.qiskit", profile=...)``, this function,
    :func:`bridge.make_qnode` and :class:`bridge.QuantumLayer`.

    Args:
        profile: a profile, its name or path, or ``None`` for ``$BRIDGE_DEVICE`` / ``"aer"``.
        wires: number of qubits.

    Raises:
        ProfileError: the profile cannot be built (unknown device, unknown fake backend, ...).
        CredentialsError: an ``ibm`` profile without credentials.
        InputError: a simulated state vector of ``wires`` qubits would not fit in memory.
    """
    prof = load_profile(profile)
    if prof.dry_run and prof.device != "bridge.qiskit":
        raise ProfileError(
            f"a dry run counts the primitive jobs of bridge.qiskit profiles (aer, aer-shots, aer-noisy, "
            f"ibm, ibm-fake-*); profile {prof.name!r} runs on {prof.device}"
        )
    if not prof.needs_ibm_account:
        check_statevector_memory(wires, prof.name)
    if prof.device == "bridge.qiskit":
        from bridge.qiskit import QiskitBatchDevice

        return QiskitBatchDevice(wires, profile=prof)
    if prof.device == "qiskit.aer":
        return _aer_device(prof, wires)
    if prof.device == "qiskit.remote":
        return _remote_device(prof, wires)
    kwargs: dict[str, Any] = {}
    if prof.seed is not None and prof.device in ("default.qubit", "lightning.qubit", "default.mixed"):
        kwargs["seed"] = prof.seed
    with profile_shots():
        if prof.device == "lightning.qubit":
            return _Float64Lightning(wires=wires, shots=prof.shots, **kwargs)
        if prof.device == "lightning.gpu":
            return _lightning_gpu(prof, wires)
        try:
            return qml.device(prof.device, wires=wires, shots=prof.shots, **kwargs)
        except qml.exceptions.DeviceError as e:
            raise ProfileError(
                f"device profile {prof.name}: PennyLane cannot load device {prof.device!r} "
                f"({e}); install its plugin or fix 'device'"
            ) from e


def _lightning_gpu(prof: Profile, wires: int) -> Any:
    """PennyLane's ``lightning.gpu``, or an error naming what this machine lacks for it."""
    import torch

    reason = None
    if not torch.cuda.is_available():
        reason = "no usable CUDA GPU (torch.cuda.is_available() is False)"
    else:
        try:
            return qml.device("lightning.gpu", wires=wires, shots=prof.shots)
        except (qml.exceptions.DeviceError, ImportError, RuntimeError) as e:
            reason = f"PennyLane cannot start lightning.gpu ({str(e).splitlines()[0]})"
    raise ProfileError(
        f"profile {prof.name!r} runs PennyLane's lightning.gpu, which needs an NVIDIA GPU with CUDA 12 and "
        f"pennylane-lightning-gpu (pip install 'qml-bridge[gpu]'); this machine has {reason}. "
        "Use profile 'lightning' here"
    )


@contextlib.contextmanager
def profile_shots() -> Iterator[None]:
    """Within this block, giving a device default shots does not warn.

    PennyLane 0.45 deprecates device-level shots in favour of ``qml.set_shots`` on each QNode, but a QNode still
    takes its default from ``device.shots`` (``tests/qiskit/test_pins.py`` pins this): a profile's shots are
    exactly such a default, chosen by name instead of in code.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Setting shots on device is deprecated", PennyLaneDeprecationWarning)
        yield


# complex128 amplitudes, times 2 for the simulator's working copy (a gate or a measurement needs one)
BYTES_PER_AMPLITUDE = 16
WORKSPACE_FACTOR = 2


def statevector_bytes(wires: int) -> int:
    """Memory a state-vector simulation of ``wires`` qubits needs: 16 bytes × 2**wires × 2 (workspace)."""
    return BYTES_PER_AMPLITUDE * WORKSPACE_FACTOR * 2**wires


def check_statevector_memory(wires: int, profile_name: str, available: int | None = None) -> None:
    """Refuse, before anything is allocated, a simulation whose state vector cannot fit in memory.

    Args:
        wires: number of qubits.
        profile_name: for the message.
        available: bytes available (default: the machine's available memory, from ``psutil``).

    Raises:
        InputError: with the estimate, the memory available and what to do instead.
    """
    import psutil

    free = psutil.virtual_memory().available if available is None else available
    needed = statevector_bytes(wires)
    if needed > free:
        raise InputError(
            f"a {wires}-qubit state-vector simulation on profile {profile_name!r} needs about "
            f"{needed / 2**30:,.1f} GiB (16 bytes × 2^{wires} amplitudes, twice), but only "
            f"{free / 2**30:,.1f} GiB of memory is available; use fewer qubits, or a hardware "
            "profile such as 'ibm'"
        )


def _lightning_class() -> type:
    from pennylane_lightning.lightning_qubit import LightningQubit

    return LightningQubit


def _as_float64(results: Any) -> Any:
    if isinstance(results, float):
        return np.float64(results)
    if isinstance(results, tuple | list):
        return type(results)(_as_float64(r) for r in results)
    return results


class _Float64Lightning(_lightning_class()):  # type: ignore[misc]
    """``lightning.qubit`` whose results stay float64 under the torch interface.

    lightning 0.45 returns plain Python floats, which ``torch.as_tensor`` (PennyLane's torch boundary)
    turns into float32, losing about 1e-8 of precision. Returning ``np.float64`` keeps float64.
    """

    def execute(self, circuits: Any, execution_config: Any = None) -> Any:
        return _as_float64(super().execute(circuits, execution_config))


def _aer_device(prof: Profile, wires: int) -> qml.devices.Device:
    kwargs: dict[str, Any] = {"method": prof.qiskit.method, "shots": prof.shots, **transpile_options(prof)}
    if prof.seed is not None:
        kwargs["seed_simulator"] = prof.seed
    if prof.qiskit.noise_backend:
        raise ProfileError(
            f"device profile {prof.name}: qiskit.aer cannot route circuits onto a fake backend's "
            "coupling map (pennylane-qiskit transpiles it with routing_method='none'); use "
            'device = "qiskit.remote" with noise_backend, as the aer-noisy profile does'
        )
    with profile_shots():
        return qml.device("qiskit.aer", wires=wires, **kwargs)


def _remote_device(prof: Profile, wires: int) -> qml.devices.Device:
    kwargs: dict[str, Any] = {"shots": prof.shots, **transpile_options(prof)}
    if prof.qiskit.noise_backend and prof.seed is not None:
        kwargs["options"] = {"simulator": {"seed_simulator": prof.seed}}
    with profile_shots():
        return qml.device("qiskit.remote", wires=wires, backend=qiskit_backend(prof, wires), **kwargs)
