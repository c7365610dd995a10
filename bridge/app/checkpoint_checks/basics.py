"""The primitives of a checkpoint's checks: one-line refusals naming the checkpoint and the field, short
renderings of untrusted values, and the checks of a field's presence, keys and numbers."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Collection, Mapping
from typing import Any

from bridge.exceptions import BridgeError

MiB = 2**20
LARGEST_COUNT = 2**63 - 1
FIX = "the file is damaged, altered or not qml-bridge's: start again without --resume, or use another --out"


def _short_repr() -> reprlib.Repr:
    """A ``reprlib.Repr`` that keeps a value's rendering to a few dozen characters."""
    short = reprlib.Repr()  # (Python 3.11's Repr takes no arguments)
    short.maxlevel, short.maxstring, short.maxother, short.maxlist, short.maxdict = 2, 40, 40, 4, 4
    return short


_SHORT = _short_repr()


def shown(value: Any) -> str:
    """``value`` for a message: short, whatever its size or depth."""
    return _SHORT.repr(value)


def refused(where: str, at: str, problem: str) -> BridgeError:
    """The one-line refusal of a checkpoint's field (``at``: its path, as ``'progress'['seen']``)."""
    return BridgeError(f"{where}: field {at} {problem}; {FIX}")


def field(state: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    """The top-level field ``name`` of a checkpoint, present and a ``kind``."""
    if name not in state:
        raise BridgeError(f"{where} has no field {name!r}; it was not written by this version of qml-bridge")
    value = state[name]
    if not isinstance(value, kind):
        raise refused(where, repr(name), f"must be a {kind.__name__}, got {type(value).__name__}")
    return value


def known(value: Mapping[str, Any], allowed: Collection[str], at: str, where: str) -> None:
    """Refuse keys of ``value`` that are not in ``allowed``, naming them (and a few of the allowed ones)."""
    unknown = [k for k in value if k not in allowed]
    if unknown:
        names = ", ".join(shown(k) for k in unknown[:5])
        listed = ", ".join(str(k) for k in list(allowed)[:8]) + (", …" if len(allowed) > 8 else "")
        raise BridgeError(f"{where}: {at} holds unknown field(s) {names} (known: {listed}); {FIX}")


def number(value: Any, at: str, where: str, *, integer: bool = False, minimum: float | None = None) -> Any:
    """A finite real number (an ``int`` when ``integer``, not a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise refused(where, at, f"must be {'an integer' if integer else 'a number'}, got {shown(value)}")
    if isinstance(value, int) and abs(value) > LARGEST_COUNT:
        raise refused(where, at, f"must fit in 64 bits, got {shown(value)}")
    if not math.isfinite(value):
        raise refused(where, at, f"must be finite, got {shown(value)}")
    if minimum is not None and value < minimum:
        raise refused(where, at, f"must be at least {minimum}, got {shown(value)}")
    return value
