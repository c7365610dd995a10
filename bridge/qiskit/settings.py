"""A ``bridge.qiskit`` device's settings: the keyword arguments a user gives, over what a profile says, over the
defaults. One rule, whichever way the device is built (``qml.device(..., profile=...)``, ``bridge.device``,
``make_qnode``, ``QuantumLayer``): an explicit argument wins, then the profile, then the default.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from pennylane.exceptions import DeviceError

from bridge import backends
from bridge.exceptions import ProfileError, WiresError
from bridge.profiles import Profile, load_profile
from bridge.qiskit.retry import RetryPolicy


class DeviceWiresError(DeviceError, WiresError):
    """More wires than the backend has qubits (a PennyLane ``DeviceError`` and a :class:`bridge.BridgeError`)."""


@dataclass(frozen=True)
class DeviceSettings:
    """Everything a ``bridge.qiskit`` device is built from.

    Attributes:
        backend: the Qiskit backend (``AerSimulator``, a fake or an IBM backend).
        shots: default shots, ``None`` for exact.
        seed: seed of the generator that draws each job's sampling seed.
        optimization_level: transpiler optimization level.
        seed_transpiler: transpiler seed.
        cache_size: compiled structures kept.
        retry: retries, backoff (seconds) and per-job timeout (seconds) of primitive jobs.
        execution_mode: ``"job"``, ``"batch"`` or ``"session"`` (runtime primitives).
        runtime_options: options of the runtime primitives.
        dry_run: count jobs without running any circuit.
        fuse_gradient: send a differentiated tape's shifted rows with its forward rows (one job per training
            step; :mod:`bridge.qiskit.fused`), else in the backward pass's own job.
        threads: threads of Aer runs (``None``: this process's share of the cores, :mod:`bridge.qiskit.cores`).
        workers: processes of the ideal simulator's exact jobs (``None``: as many as threads;
            :mod:`bridge.qiskit.workers`).
        profile: the profile the settings came from, if any (named in messages).
    """

    backend: Any
    shots: int | None = None
    seed: int | None = None
    optimization_level: int = 1
    seed_transpiler: int | None = None
    cache_size: int = 256
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    execution_mode: str = "job"
    runtime_options: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    fuse_gradient: bool = True
    threads: int | None = None
    workers: int | None = None
    profile: Profile | None = None

    @functools.cached_property
    def sampler_only(self) -> bool:
        """Shots on this backend always go through ``SamplerV2`` (an Aer backend)."""
        from qiskit_aer import AerSimulator

        return isinstance(self.backend, AerSimulator)

    @functools.cached_property
    def ideal(self) -> bool:
        """Noiseless Aer without a device's coupling map, which runs circuits as built (no transpiler) and is
        the only backend with an exact mode (a noiseless ``AerSimulator.from_backend`` still routes)."""
        return self.sampler_only and self.backend.options.noise_model is None and self.backend.coupling_map is None

    @property
    def where(self) -> str:
        """``profile 'aer-noisy' (backend …)`` or ``backend …``, for messages."""
        name = self.backend.name
        return f"profile {self.profile.name!r} (backend {name})" if self.profile else f"backend {name}"


def device_settings(n_wires: int, *, profile: Any = None, backend: Any = None, **given: Any) -> DeviceSettings:
    """Resolve a device's settings.

    Args:
        n_wires: the device's number of wires (some backends are chosen by size).
        profile: a profile (name, path or :class:`~bridge.profiles.Profile`), or ``None``.
        backend: a Qiskit backend that replaces the profile's.
        given: the device's other keyword arguments (``shots``, ``seed``, ``optimization_level``,
            ``seed_transpiler``, ``cache_size``, ``retries``, ``retry_backoff``, ``job_timeout``,
            ``execution_mode``, ``runtime_options``, ``dry_run``, ``fuse_gradient``, ``threads``, ``workers``);
            ``None`` means "not given".

    Raises:
        ProfileError: the profile runs on another PennyLane device.
    """
    given = {k: v for k, v in given.items() if v is not None}
    from_profile: dict[str, Any] = {}
    prof = None
    if profile is not None:
        prof = load_profile(profile)
        if prof.device != "bridge.qiskit":
            raise ProfileError(
                f"profile {prof.name!r} runs on {prof.device}, not bridge.qiskit; build it with "
                f"bridge.device({prof.name!r}, wires)"
            )
        from_profile = {
            "shots": prof.shots,
            "seed": prof.seed,
            "optimization_level": prof.qiskit.optimization_level,
            "seed_transpiler": prof.qiskit.seed_transpiler,
            "retries": prof.qiskit.retries,
            "retry_backoff": prof.qiskit.retry_backoff,
            "job_timeout": prof.qiskit.job_timeout,
            "execution_mode": prof.ibm.mode,
            "runtime_options": prof.ibm.options,
            "dry_run": prof.dry_run,
            "fuse_gradient": prof.qiskit.fuse_gradient,
            "threads": prof.qiskit.threads,
            "workers": prof.qiskit.workers,
        }
        from_profile = {k: v for k, v in from_profile.items() if v is not None}
        if backend is None:
            dry_run = given.get("dry_run", prof.dry_run)
            backend = backends.qiskit_backend(dataclasses.replace(prof, dry_run=dry_run), n_wires)
    if backend is None:
        from qiskit_aer import AerSimulator

        backend = AerSimulator(method="statevector")
    if backend.num_qubits is not None and n_wires > backend.num_qubits:
        raise DeviceWiresError(
            f"{n_wires} wires do not fit on backend {backend.name} ({backend.num_qubits} qubits); "
            "use fewer wires or a larger backend"
        )
    chosen = {**from_profile, **given}
    default = RetryPolicy()
    retry = RetryPolicy(
        chosen.pop("retries", default.retries),
        chosen.pop("retry_backoff", default.backoff),
        chosen.pop("job_timeout", default.timeout),
    )
    return DeviceSettings(backend=backend, retry=retry, profile=prof, **chosen)
