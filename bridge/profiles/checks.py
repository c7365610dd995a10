"""Rules on a profile's values: the ranges of its numbers, and the diff methods each device serves.

:mod:`bridge.profiles.schema` reads the TOML text and applies these rules, so that a value the backend would
reject with a traceback (a negative seed, a zero or overflowing timeout) or a diff method PennyLane cannot run on
the device is refused when the profile is loaded, with the file (and, for a key's value, the line).
"""

from __future__ import annotations

from bridge.exceptions import ProfileError

DIFF_METHODS = ("device", "parameter-shift", "finite-diff", "backprop", "adjoint", "best", "spsa", "hadamard")
SEED_MAX = 2**32 - 1  # NumPy's, Aer's and the transpiler's seeds are unsigned 32-bit integers
RETRIES_MAX = 20  # the last of 20 retries already waits retry_backoff × 2**19 seconds
DAY = 86_400.0
# integer keys (top level or a table's): (least, most)
INT_RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, SEED_MAX),
    "seed_transpiler": (0, SEED_MAX),
    "retries": (0, RETRIES_MAX),
    "threads": (1, 4096),
    "workers": (1, 1024),
}
# keys counted in seconds (checked ≥ 0 and finite where they are read): (whether 0 is allowed, most, what 0 means
# instead). The largest waits stay below what Python's sleep and thread waits take (about 9.2e9 s), backoff
# doubled 19 times included.
SECONDS_RANGES: dict[str, tuple[bool, float, str]] = {
    "retry_backoff": (True, 3600.0, ""),
    "job_timeout": (False, 30 * DAY, "; omit it for no limit"),
    "connect_timeout": (False, 3600.0, ""),
}
# the diff methods qml-bridge's devices serve, as PennyLane 0.45 and its plugins answer a torch QNode built with
# exactly the circuit's wires (measured on each device, tests/profiles/test_profiles.py; lightning.gpu taken as its
# sibling lightning.qubit). "hadamard" needs one more wire, so no device here serves it.
_PENNYLANE = ("best", "parameter-shift", "finite-diff", "spsa")
DEVICE_DIFF_METHODS: dict[str, tuple[str, ...]] = {
    "default.qubit": ("best", "backprop", "adjoint", "parameter-shift", "finite-diff", "spsa"),
    "default.mixed": ("parameter-shift", "finite-diff", "spsa"),
    "lightning.qubit": ("best", "adjoint", "parameter-shift", "finite-diff", "spsa"),
    "lightning.gpu": ("best", "adjoint", "parameter-shift", "finite-diff", "spsa"),
    "qiskit.aer": _PENNYLANE,
    "qiskit.remote": _PENNYLANE,
    "bridge.qiskit": ("device", *_PENNYLANE),
}
# why a device refuses a method PennyLane lets it take
_WHY = {
    ("default.mixed", "backprop"): " (in PennyLane 0.45 its gradients are NaN through any two-qubit gate)",
    ("default.mixed", "best"): ' ("best" picks backprop, whose gradients are NaN through any two-qubit gate here)',
}


def check_int_range(key: str, value: int | None, at: str, table: str | None = None) -> None:
    """Refuse an integer ``key`` (of :data:`INT_RANGES`) outside its range; ``at`` is "FILE, line N"."""
    if value is None or key not in INT_RANGES:
        return
    least, most = INT_RANGES[key]
    if not least <= value <= most:
        place = f"[{table}] " if table else ""
        extra = " (2**32 - 1)" if most == SEED_MAX else ""
        raise ProfileError(f"device profile {at}: {place}{key!r} must be ≥ {least} and ≤ {most}{extra}, got {value}")


def check_seconds_range(key: str, value: float, at: str, table: str) -> None:
    """Refuse a number of seconds ``key`` (of :data:`SECONDS_RANGES`, already known ≥ 0 and finite) that is 0
    where 0 means nothing, or above its most."""
    if key not in SECONDS_RANGES:
        return
    zero_allowed, most, instead = SECONDS_RANGES[key]
    if value == 0 and not zero_allowed:
        raise ProfileError(f"device profile {at}: [{table}] {key!r} must be a number of seconds > 0, got 0{instead}")
    if value > most:
        days = f" ({most / DAY:g} days)" if most >= DAY else ""
        raise ProfileError(
            f"device profile {at}: [{table}] {key!r} must be a number of seconds ≤ {most:,.0f}{days}, got {value:g}"
        )


def check_diff_method(device: str, diff_method: str, exact: bool, where: str) -> None:
    """Refuse a diff method PennyLane does not know, or that ``device`` cannot serve (with or without shots).

    Devices outside :data:`DEVICE_DIFF_METHODS` (other PennyLane plugins) are checked against
    :data:`DIFF_METHODS` and the rules that hold for every device only.
    """
    if diff_method not in DIFF_METHODS:
        raise ProfileError(
            f"device profile {where}: diff_method {diff_method!r} is not one of {', '.join(DIFF_METHODS)}"
        )
    if device == "bridge.qiskit" and diff_method in ("adjoint", "backprop"):
        raise ProfileError(
            f"device profile {where}: bridge.qiskit does not support diff_method "
            f"{diff_method!r}: it needs a simulator's internal state, which a Qiskit backend "
            '(and hardware) does not expose. Use "device", "best" or "parameter-shift" (the '
            'device\'s batched parameter-shift rule), or "finite-diff" / "spsa"'
        )
    supported = DEVICE_DIFF_METHODS.get(device)
    if diff_method == "hadamard":
        raise ProfileError(
            f"device profile {where}: diff_method 'hadamard' needs an auxiliary wire beyond the circuit's, and "
            'qml-bridge builds each device with exactly the circuit\'s wires; use "parameter-shift" (the same '
            f"exact gradients){f' or one of {_listed(supported)}' if supported else ''}"
        )
    if supported is not None and diff_method not in supported:
        raise ProfileError(
            f"device profile {where}: {device} does not support diff_method {diff_method!r}"
            f"{_WHY.get((device, diff_method), '')}; use one of {_listed(supported)}"
        )
    if diff_method in ("adjoint", "backprop") and not exact and (supported is not None or diff_method == "adjoint"):
        raise ProfileError(
            f'device profile {where}: diff_method "{diff_method}" differentiates the simulator\'s exact state and '
            "takes no shots; remove 'shots', or use \"parameter-shift\""
        )


def _listed(methods: tuple[str, ...] | None) -> str:
    return ", ".join(methods or ())
