"""The ``bridge.qiskit`` PennyLane device and its parts (see ``ARCHITECTURE.md``)."""

from bridge.qiskit.device import DeviceWiresError, QiskitBatchDevice

__all__ = ["DeviceWiresError", "QiskitBatchDevice"]
