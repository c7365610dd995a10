"""What a profile is: the validated dataclasses, and the TOML text that becomes one.

The keys, their types and the rules between them (see :mod:`bridge.profiles` for the file format) are checked
here, with the file and line of the offending key in every message; :mod:`bridge.profiles.checks` holds the ranges
of numbers and the diff methods each device serves.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.exceptions import ProfileError
from bridge.profiles.checks import check_diff_method, check_int_range, check_seconds_range

QISKIT_DEVICES = ("qiskit.aer", "qiskit.remote", "bridge.qiskit")
QISKIT_BACKENDS = ("aer", "ibm", "fake")
EXECUTION_MODES = ("job", "batch", "session")
AER_DEVICES = ("CPU", "GPU")
SHOTS_MAX = 10**9  # per circuit: more than any backend takes (IBM: 10^5 … 10^7)
OPTIMIZATION_LEVELS = (0, 1, 2, 3)  # Qiskit's preset pass managers
# Aer methods that give the ideal simulator's exact results (state, expectation values, probabilities)
EXACT_AER_METHODS = ("automatic", "statevector", "density_matrix", "matrix_product_state")


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
    fuse_gradient: bool = True  # bridge.qiskit: one job per training step (False: forward, then backward)
    device: str = "CPU"  # the ideal Aer simulator's device: "CPU", or "GPU" (qiskit-aer-gpu and an NVIDIA GPU)
    threads: int | None = None  # bridge.qiskit on Aer: threads per process (omitted: this process's share of cores)
    workers: int | None = None  # bridge.qiskit on ideal Aer: processes of exact jobs (omitted: as many as threads)


@dataclass(frozen=True)
class IBMOptions:
    """Options of the ``[ibm]`` table (which IBM Quantum backend and account)."""

    backend: str = ""
    channel: str = "ibm_quantum_platform"
    instance: str = ""
    mode: str = "job"
    url: str = ""  # empty: the channel's (https://cloud.ibm.com)
    connect_timeout: float = 5.0  # seconds for IBM Quantum's endpoints to answer before "unreachable"
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
        dry_run: build devices that count primitive jobs without running any circuit (``--dry-run``); set in
            code with :meth:`as_dry_run`, never in a profile file.
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
    dry_run: bool = False

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
        check_consistency(candidate, str(self.source or self.name))
        return candidate

    def as_dry_run(self) -> Profile:
        """A copy whose devices count jobs, circuits and shots without running a circuit (an ``ibm`` profile's
        backend is stood in for by a local one, so no account or network is needed)."""
        return dataclasses.replace(self, dry_run=True)

    def with_seed(self, seed: int | None) -> Profile:
        """Return a copy with another simulator seed (``0 … 2**32 - 1``, or ``None``)."""
        check_int_range("seed", seed, str(self.source or self.name))
        return dataclasses.replace(self, seed=seed)


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
            raise ProfileError(f'device profile {where} has no {required!r} key; add {required} = "..."')
    profile = Profile(
        name=name,
        description=_filled(data, "description", where),
        device=_filled(data, "device", where),
        diff_method=_typed(data, "diff_method", str, where, "parameter-shift"),
        shots=_shots(data.get("shots"), where),
        seed=_seed(data, where),
        qiskit=_table(data, "qiskit", QiskitOptions, where),
        ibm=_table(data, "ibm", IBMOptions, where),
        source=source,
    )
    if profile.device not in QISKIT_DEVICES and ("qiskit" in data or "ibm" in data):
        raise ProfileError(
            f"device profile {where}: [qiskit] and [ibm] tables only apply to "
            f"{' and '.join(QISKIT_DEVICES)}, not {profile.device!r}; remove them"
        )
    check_consistency(profile, where)
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
        raise ProfileError(
            f"device profile {where.at(unknown[0], table)}: unknown key(s) "
            f"{', '.join(map(repr, unknown))} in {place}; "
            f"allowed keys: {', '.join(sorted(allowed))}"
        )


def _typed(data: dict[str, Any], key: str, kind: type, where: _Where, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise ProfileError(f"device profile {where} needs the key {key!r}")
        return default
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ProfileError(f"device profile {where.at(key)}: {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _filled(data: dict[str, Any], key: str, where: _Where) -> str:
    """A string key that must not be blank (``device``, ``description``)."""
    value = _typed(data, key, str, where)
    if not value.strip():
        fix = (
            'a PennyLane device, e.g. device = "default.qubit"' if key == "device" else "one line that says what it is"
        )
        raise ProfileError(f"device profile {where.at(key)}: {key!r} is empty; give {fix}")
    return value


def _seed(data: dict[str, Any], where: _Where) -> int | None:
    """The simulator's seed: absent, or an integer from 0 to 2**32 - 1."""
    seed = _typed(data, "seed", int, where, None)
    check_int_range("seed", seed, where.at("seed"))
    return seed


def _shots(value: Any, where: _Where) -> int | None:
    """Validate shots: absent means exact; otherwise a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProfileError(
            f"device profile {where.at('shots')}: 'shots' must be a positive integer, got {value!r}; "
            "omit the key for exact expectation values"
        )
    if value > SHOTS_MAX:
        raise ProfileError(
            f"device profile {where.at('shots')}: 'shots' must be at most {SHOTS_MAX:,} per circuit, got {value:,}"
        )
    return value


def _table(data: dict[str, Any], key: str, kind: type, where: _Where) -> Any:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ProfileError(f"device profile {where.at(key)}: [{key}] must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    _reject_unknown(table, set(fields), where, key)
    values: dict[str, Any] = {}
    for name, value in table.items():
        at = where.at(name, key)
        declared = str(fields[name].type)
        if declared.startswith("dict"):
            if not isinstance(value, dict):
                raise ProfileError(
                    f"device profile {at}: [{key}] {name!r} must be a table ([{key}.{name}]), got {value!r}"
                )
            values[name] = value
            continue
        if declared == "bool":
            if not isinstance(value, bool):
                raise ProfileError(f"device profile {at}: [{key}] {name!r} must be true or false, got {value!r}")
            values[name] = value
            continue
        expected = int if "int" in declared else float if "float" in declared else str
        if expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ProfileError(f"device profile {at}: [{key}] {name!r} must be an integer, got {value!r}")
            check_int_range(name, value, at, key)
        if expected is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
                raise ProfileError(
                    f"device profile {at}: [{key}] {name!r} must be a number of seconds ≥ 0, got {value!r}"
                )
            value = float(value)
            check_seconds_range(name, value, at, key)
        if expected is str and not isinstance(value, str):
            raise ProfileError(f"device profile {at}: [{key}] {name!r} must be a string, got {value!r}")
        values[name] = value
    return kind(**values)


def check_consistency(profile: Profile, where: _Where | str) -> None:
    """Refuse settings that contradict each other or the device (the diff method, shots, backend, method)."""
    check_diff_method(profile.device, profile.diff_method, profile.exact, str(where))
    if profile.device == "qiskit.aer" and profile.exact and profile.qiskit.method != "statevector":
        raise ProfileError(
            f"device profile {where}: exact expectation values (no 'shots') need [qiskit] method = "
            f'"statevector", got {profile.qiskit.method!r}; pennylane-qiskit would silently sample 1024 '
            "shots otherwise. Set method = \"statevector\" or give 'shots'."
        )
    if profile.qiskit.optimization_level is not None and profile.qiskit.optimization_level not in OPTIMIZATION_LEVELS:
        raise ProfileError(
            f"device profile {where}: [qiskit] optimization_level must be 0, 1, 2 or 3, got "
            f"{profile.qiskit.optimization_level}"
        )
    ideal = profile.device == "bridge.qiskit" and profile.qiskit.backend == "aer" and not profile.qiskit.noise_backend
    if ideal and (profile.qiskit.optimization_level is not None or profile.qiskit.seed_transpiler is not None):
        raise ProfileError(
            f"device profile {where}: [qiskit] optimization_level and seed_transpiler have no effect on the ideal "
            "Aer simulator, which runs bridge.qiskit's circuits untranspiled; remove them (they apply with "
            "noise_backend, fake and IBM backends)"
        )
    if ideal and profile.qiskit.method not in EXACT_AER_METHODS:
        raise ProfileError(
            f"device profile {where}: [qiskit] method {profile.qiskit.method!r} cannot give the ideal simulator's "
            f"exact results; use one of {', '.join(EXACT_AER_METHODS)}"
        )
    if profile.qiskit.device not in AER_DEVICES:
        raise ProfileError(
            f"device profile {where}: [qiskit] device {profile.qiskit.device!r} is not one of {', '.join(AER_DEVICES)}"
        )
    if profile.qiskit.device == "GPU" and (profile.qiskit.backend != "aer" or profile.qiskit.noise_backend):
        raise ProfileError(
            f'device profile {where}: [qiskit] device = "GPU" applies to the ideal Aer simulator '
            '(backend = "aer" without noise_backend); remove it or the noise source'
        )
    if profile.qiskit.backend not in QISKIT_BACKENDS:
        raise ProfileError(
            f"device profile {where}: [qiskit] backend {profile.qiskit.backend!r} is not one of "
            f"{', '.join(QISKIT_BACKENDS)}"
        )
    if (
        profile.device == "bridge.qiskit"
        and profile.exact
        and (profile.qiskit.backend != "aer" or profile.qiskit.noise_backend)
    ):
        raise ProfileError(
            f"device profile {where}: exact expectation values need the ideal Aer simulator; "
            "set 'shots' for IBM backends and noisy simulation"
        )
    if profile.ibm.mode not in EXECUTION_MODES:
        raise ProfileError(
            f"device profile {where}: [ibm] mode {profile.ibm.mode!r} is not one of {', '.join(EXECUTION_MODES)}"
        )
    if profile.qiskit.backend == "fake" and not profile.ibm.backend:
        raise ProfileError(
            f'device profile {where}: [qiskit] backend = "fake" needs [ibm] backend, the fake '
            'device\'s name (for example "fake_manila")'
        )
    if profile.device == "qiskit.remote" and profile.exact:
        raise ProfileError(
            f"device profile {where}: qiskit.remote has no exact mode; set 'shots' (for example shots = 1024)"
        )
