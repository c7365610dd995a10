"""qml-bridge: train hybrid quantum-classical PyTorch models on any PennyLane or Qiskit backend.

Public API (imported lazily, so ``import bridge`` and the CLI start fast)::

    from bridge import QuantumLayer, circuits, load_profile, device
    layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="aer")   # or $BRIDGE_DEVICE
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "BridgeError": "bridge.exceptions",
    "CredentialsError": "bridge.exceptions",
    "DataError": "bridge.exceptions",
    "ExecutionError": "bridge.exceptions",
    "InputError": "bridge.exceptions",
    "ProfileError": "bridge.exceptions",
    "Profile": "bridge.profiles",
    "list_profiles": "bridge.profiles",
    "load_profile": "bridge.profiles",
    "CircuitSpec": "bridge.circuits",
    "device": "bridge.device_factory",
    "QuantumLayer": "bridge.layers",
    "make_qnode": "bridge.layers.qnodes",
}
__all__ = sorted([*_EXPORTS, "circuits"])


def __getattr__(name: str) -> Any:
    if name == "circuits":
        return importlib.import_module("bridge.circuits")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
