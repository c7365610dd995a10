"""Device profiles: small TOML files that choose the backend a circuit runs on.

A profile is picked by name (a file ``devices/NAME.toml`` shipped with the package), by a path to a
user's own TOML file, or through the ``BRIDGE_DEVICE`` environment variable. Code never changes to
change backend.

Schema (every key but ``device`` and ``description`` optional)::

    description = "one line shown by `qml-bridge devices`"
    device = "qiskit.aer"            # a PennyLane device name
    diff_method = "parameter-shift"  # any PennyLane diff_method
    shots = 1024                     # omit for exact expectation values
    seed = 1234                      # simulator seed (sampling and noise)

    [qiskit]                         # only for qiskit.* and bridge.qiskit devices
    # backend: "aer" (Aer, ideal or with noise_backend), "ibm" (QiskitRuntimeService), "fake" (a fake IBM
    # device of qiskit_ibm_runtime.fake_provider, named by [ibm] backend, through the runtime's local mode)
    method = "statevector"           # Aer simulation method (qiskit.aer)
    backend = "aer"                  # bridge.qiskit: "aer" or "ibm" (QiskitRuntimeService, see [ibm])
    noise_backend = "FakeManilaV2"   # a backend of qiskit_ibm_runtime.fake_provider
    optimization_level = 1           # transpiler options
    seed_transpiler = 1234
    retries = 3                      # bridge.qiskit: retries of a failed primitive job
    retry_backoff = 1.0              # seconds before the first retry, doubled for each further one
    job_timeout = 600.0              # seconds to wait for one job (omit: no limit)

    [ibm]                            # only for IBM backends (real or fake)
    backend = ""                     # empty: least busy device with enough qubits; "fake_manila" for "fake"
    channel = "ibm_quantum_platform"
    instance = ""                    # empty: QISKIT_IBM_INSTANCE or the saved account's
    mode = "job"                     # execution mode: "job", "batch" or "session"

    [ibm.options]                    # passed to the runtime EstimatorV2 (and SamplerV2 where it applies)
    resilience_level = 1
    dynamical_decoupling = { enable = true, sequence_type = "XY4" }
    twirling = { enable_gates = true }

A name ``BASE:DEVICE`` (``aer-noisy:brisbane``, ``ibm-fake-manila:kyiv``) is the profile ``BASE`` with
its fake IBM device replaced by ``DEVICE``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bridge.exceptions import ProfileError

ENV_VAR = "BRIDGE_DEVICE"
DEFAULT_PROFILE = "aer"

DIFF_METHODS = ("device", "parameter-shift", "finite-diff", "backprop", "adjoint", "best", "spsa", "hadamard")
QISKIT_DEVICES = ("qiskit.aer", "qiskit.remote", "bridge.qiskit")
QISKIT_BACKENDS = ("aer", "ibm", "fake")
EXECUTION_MODES = ("job", "batch", "session")


@dataclass(frozen=True)
class QiskitOptions:
    """Options of the ``[qiskit]`` table (Aer method, noise source, transpiler)."""

    method: str = "statevector"
    backend: str = "aer"
    noise_backend: str | None = None
    optimization_level: int | None = None
    seed_transpiler: int | None = None
    retries: int = 3
    retry_backoff: float = 1.0
    job_timeout: float | None = None


@dataclass(frozen=True)
class IBMOptions:
    """Options of the ``[ibm]`` table (which IBM Quantum backend and account)."""

    backend: str = ""
    channel: str = "ibm_quantum_platform"
    instance: str = ""
    mode: str = "job"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """A validated device profile.

    Attributes:
        name: the profile's name (file stem).
        description: one line for listings.
        device: PennyLane device name, e.g. ``"qiskit.aer"``.
        diff_method: PennyLane differentiation method.
        shots: shots per circuit, or ``None`` for exact expectation values.
        seed: seed of the simulator's sampling and noise, or ``None``.
        qiskit: the ``[qiskit]`` table.
        ibm: the ``[ibm]`` table.
        source: the TOML file it was read from.
    """

    name: str
    description: str
    device: str
    diff_method: str = "parameter-shift"
    shots: int | None = None
    seed: int | None = None
    qiskit: QiskitOptions = field(default_factory=QiskitOptions)
    ibm: IBMOptions = field(default_factory=IBMOptions)
    source: Path | None = None

    @property
    def exact(self) -> bool:
        """Whether expectation values are computed exactly (no shots)."""
        return self.shots is None

    @property
    def needs_ibm_account(self) -> bool:
        """Whether building the device contacts IBM Quantum (``qiskit.remote`` without a fake noise source)."""
        if self.device == "bridge.qiskit":
            return self.qiskit.backend == "ibm"
        return self.device == "qiskit.remote" and not self.qiskit.noise_backend

    def with_shots(self, shots: int | None) -> Profile:
        """Return a copy with other shots (``None``: exact), validated like a file would be."""
        candidate = dataclasses.replace(self, shots=shots)
        _check_consistency(candidate, str(self.source or self.name))
        return candidate

    def with_seed(self, seed: int | None) -> Profile:
        """Return a copy with another simulator seed."""
        return dataclasses.replace(self, seed=seed)


def builtin_dir() -> Path:
    """The folder of the profiles shipped with the package."""
    return Path(str(resources.files("bridge.devices")))


def builtin_names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def list_profiles() -> list[Profile]:
    """Every shipped profile, loaded and validated, sorted by name."""
    return [load_profile(name) for name in builtin_names()]


def resolve_name(name: str | os.PathLike[str] | None = None) -> str | os.PathLike[str]:
    """The profile to use: ``name`` if given, else ``$BRIDGE_DEVICE``, else :data:`DEFAULT_PROFILE`."""
    if name:
        return name
    return os.environ.get(ENV_VAR) or DEFAULT_PROFILE


def load_profile(name: str | os.PathLike[str] | Profile | None = None) -> Profile:
    """Load a profile by name, by path, or from ``$BRIDGE_DEVICE``.

    Args:
        name: a shipped profile's name (``"aer"``), a path to a TOML file, a :class:`Profile`
            (returned as is), or ``None`` for ``$BRIDGE_DEVICE`` or the default ``"aer"``.

    Returns:
        The validated profile.

    Raises:
        ProfileError: unknown name (the message lists the known ones), unreadable or malformed file
            (file and line), unknown keys, wrong types, or inconsistent settings.

    Example:
        >>> load_profile("aer").device
        'qiskit.aer'
    """
    if isinstance(name, Profile):
        return name
    chosen = resolve_name(name)
    text = os.fspath(chosen)
    base, colon, variant = text.partition(":")
    if colon and not _looks_like_path(text):
        return with_fake_device(load_profile(base), variant)
    path = _profile_path(chosen)
    return parse_profile(path.read_text(encoding="utf-8"), name=path.stem, source=path)


def with_fake_device(profile: Profile, device: str) -> Profile:
    """The profile with its fake IBM device (Aer noise source, or local-mode runtime backend) replaced.

    Args:
        profile: a profile with ``[qiskit] noise_backend`` or ``[qiskit] backend = "fake"``.
        device: a fake device's name: ``"brisbane"``, ``"fake_brisbane"`` or ``"FakeBrisbane"``.

    Raises:
        ProfileError: the profile has no fake device to replace.
    """
    if profile.qiskit.noise_backend:
        changed = dataclasses.replace(profile, qiskit=dataclasses.replace(profile.qiskit, noise_backend=device))
    elif profile.qiskit.backend == "fake":
        changed = dataclasses.replace(profile, ibm=dataclasses.replace(profile.ibm, backend=device))
    else:
        raise ProfileError(f"profile {profile.name!r} has no fake IBM device to replace with {device!r}; "
                           "NAME:DEVICE works for profiles with a noise_backend (aer-noisy) or a fake backend "
                           "(ibm-fake-*)")
    return dataclasses.replace(changed, name=f"{profile.name}:{device}")


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or os.sep in text or "/" in text


def _profile_path(chosen: str | os.PathLike[str]) -> Path:
    text = os.fspath(chosen)
    if _looks_like_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ProfileError(f"device profile file {text!r} does not exist; give an existing TOML file "
                               f"or one of the profile names: {', '.join(builtin_names())}")
        return path
    path = builtin_dir() / f"{text}.toml"
    if not path.is_file():
        raise ProfileError(f"unknown device profile {text!r}; known profiles: {', '.join(builtin_names())} "
                           f"(or give a path to your own .toml file; `qml-bridge devices` lists them)")
    return path


_TOP_KEYS = {"description", "device", "diff_method", "shots", "seed", "qiskit", "ibm"}


def parse_profile(text: str, *, name: str, source: Path | None = None) -> Profile:
    """Parse and validate the TOML text of a profile.

    Args:
        text: the file's contents.
        name: the profile's name.
        source: where the text came from, for messages.

    Raises:
        ProfileError: with the file name and, for syntax errors, the line.
    """
    where = _Where(str(source) if source else name, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = re.search(r"line (\d+)", str(e))
        at = f", line {line.group(1)}" if line else ""
        raise ProfileError(f"malformed device profile {where}{at}: {e}; fix the TOML syntax") from e
    _reject_unknown(data, _TOP_KEYS, where, None)
    for required in ("device", "description"):
        if required not in data:
            raise ProfileError(f"device profile {where} has no {required!r} key; add {required} = \"...\"")
    profile = Profile(
        name=name,
        description=_typed(data, "description", str, where),
        device=_typed(data, "device", str, where),
        diff_method=_typed(data, "diff_method", str, where, "parameter-shift"),
        shots=_shots(data.get("shots"), where),
        seed=_typed(data, "seed", int, where, None),
        qiskit=_table(data, "qiskit", QiskitOptions, where),
        ibm=_table(data, "ibm", IBMOptions, where),
        source=source,
    )
    if profile.device not in QISKIT_DEVICES and ("qiskit" in data or "ibm" in data):
        raise ProfileError(f"device profile {where}: [qiskit] and [ibm] tables only apply to "
                           f"{' and '.join(QISKIT_DEVICES)}, not {profile.device!r}; remove them")
    _check_consistency(profile, where)
    return profile


@dataclass(frozen=True)
class _Where:
    """A profile's file name, and the line of a key in its text (for messages)."""

    name: str
    text: str

    def __str__(self) -> str:
        return self.name

    def at(self, key: str, table: str | None = None) -> str:
        """``"FILE, line N"`` for ``key`` (in ``[table]``, or at the top level), or ``"FILE"``."""
        current = None
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = re.match(r"\s*\[\s*([^\]\s]+)\s*\]", line)
            if header:
                current = header.group(1)
                if table is None and current == key:
                    return f"{self.name}, line {number}"
            elif current == table and re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
                return f"{self.name}, line {number}"
        return self.name


def _reject_unknown(data: dict[str, Any], allowed: set[str], where: _Where, table: str | None) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        place = f"[{table}]" if table else "top level"
        raise ProfileError(f"device profile {where.at(unknown[0], table)}: unknown key(s) "
                           f"{', '.join(map(repr, unknown))} in {place}; "
                           f"allowed keys: {', '.join(sorted(allowed))}")


def _typed(data: dict[str, Any], key: str, kind: type, where: _Where, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise ProfileError(f"device profile {where} needs the key {key!r}")
        return default
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ProfileError(f"device profile {where.at(key)}: {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _shots(value: Any, where: _Where) -> int | None:
    """Validate shots: absent means exact; otherwise a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProfileError(f"device profile {where.at('shots')}: 'shots' must be a positive integer, got {value!r}; "
                           "omit the key for exact expectation values")
    return value


def _table(data: dict[str, Any], key: str, kind: type, where: _Where) -> Any:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ProfileError(f"device profile {where.at(key)}: [{key}] must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    _reject_unknown(table, set(fields), where, key)
    values = {}
    for name, value in table.items():
        at = where.at(name, key)
        declared = str(fields[name].type)
        if declared.startswith("dict"):
            if not isinstance(value, dict):
                raise ProfileError(f"device profile {at}: [{key}] {name!r} must be a table ([{key}.{name}]), "
                                   f"got {value!r}")
            values[name] = value
            continue
        expected = int if "int" in declared else float if "float" in declared else str
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ProfileError(f"device profile {at}: [{key}] {name!r} must be an integer, got {value!r}")
        if expected is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ProfileError(f"device profile {at}: [{key}] {name!r} must be a number of seconds "
                                   f"≥ 0, got {value!r}")
            value = float(value)
        if expected is str and not isinstance(value, str):
            raise ProfileError(f"device profile {at}: [{key}] {name!r} must be a string, got {value!r}")
        values[name] = value
    if values.get("retries", 0) < 0:
        raise ProfileError(f"device profile {where.at('retries', key)}: [{key}] 'retries' must be ≥ 0, "
                           f"got {values['retries']}")
    return kind(**values)


def _check_consistency(profile: Profile, where: _Where | str) -> None:
    if profile.diff_method not in DIFF_METHODS:
        raise ProfileError(f"device profile {where}: diff_method {profile.diff_method!r} is not one of "
                           f"{', '.join(DIFF_METHODS)}")
    if profile.device == "bridge.qiskit" and profile.diff_method in ("adjoint", "backprop"):
        raise ProfileError(f"device profile {where}: bridge.qiskit does not support diff_method "
                           f"{profile.diff_method!r}: it needs a simulator's internal state, which a Qiskit backend "
                           "(and hardware) does not expose. Use \"device\", \"best\" or \"parameter-shift\" (the "
                           "device's batched parameter-shift rule), or \"finite-diff\" / \"spsa\"")
    if profile.device == "qiskit.aer" and profile.exact and profile.qiskit.method != "statevector":
        raise ProfileError(
            f"device profile {where}: exact expectation values (no 'shots') need [qiskit] method = "
            f"\"statevector\", got {profile.qiskit.method!r}; pennylane-qiskit would silently sample 1024 "
            "shots otherwise. Set method = \"statevector\" or give 'shots'.")
    if profile.qiskit.backend not in QISKIT_BACKENDS:
        raise ProfileError(f"device profile {where}: [qiskit] backend {profile.qiskit.backend!r} is not one of "
                           f"{', '.join(QISKIT_BACKENDS)}")
    if profile.device == "bridge.qiskit" and profile.exact and (profile.qiskit.backend != "aer"
                                                                or profile.qiskit.noise_backend):
        raise ProfileError(f"device profile {where}: exact expectation values need the ideal Aer simulator; "
                           "set 'shots' for IBM backends and noisy simulation")
    if profile.ibm.mode not in EXECUTION_MODES:
        raise ProfileError(f"device profile {where}: [ibm] mode {profile.ibm.mode!r} is not one of "
                           f"{', '.join(EXECUTION_MODES)}")
    if profile.qiskit.backend == "fake" and not profile.ibm.backend:
        raise ProfileError(f"device profile {where}: [qiskit] backend = \"fake\" needs [ibm] backend, the fake "
                           "device's name (for example \"fake_manila\")")
    if profile.device == "qiskit.remote" and profile.exact:
        raise ProfileError(f"device profile {where}: qiskit.remote has no exact mode; set 'shots' "
                           "(for example shots = 1024)")
