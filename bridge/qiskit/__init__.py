"""The ``bridge.qiskit`` PennyLane device and its parts (see ``ARCHITECTURE.md``).

The device is imported on first use, so that a part (a worker process running :mod:`bridge.qiskit.worker`)
starts without PennyLane.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DeviceWiresError", "QiskitBatchDevice"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("bridge.qiskit.device"), name)
    raise AttributeError(f"module 'bridge.qiskit' has no attribute {name!r}")
