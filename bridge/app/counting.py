"""What a model's quantum layers send: their PennyLane devices, the primitive jobs, PUB rows and shots counted on
its ``bridge.qiskit`` devices (``qml.Tracker``), summed over devices and ranks, and the devices closed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pennylane as qml
from torch import nn

from bridge.app.checkpoints import EXECUTION_KEYS


def quantum_devices(model: nn.Module) -> list[Any]:
    """The PennyLane devices of the model's ``TorchLayer``s (a :class:`~bridge.layers.QuantumLayer`'s, or a user's
    own), in module order, each once."""
    found: dict[int, Any] = {}
    for module in model.modules():
        if isinstance(module, qml.qnn.TorchLayer):
            found.setdefault(id(module.qnode.device), module.qnode.device)
    return list(found.values())


def batch_devices(model: nn.Module) -> list[Any]:
    """The model's ``bridge.qiskit`` devices: those whose primitive jobs are counted and previewed."""
    return [d for d in quantum_devices(model) if d.name == "bridge.qiskit"]


@contextlib.contextmanager
def tracked(model: nn.Module, before: dict[str, int] | None = None) -> Iterator[Callable[[], dict[str, int] | None]]:
    """Within this block, count the jobs, circuits and shots of the model's ``bridge.qiskit`` devices, and close
    them (an IBM runtime Batch or Session) when it ends, on success, error or Ctrl-C alike.

    Yields:
        A function returning the counts so far (plus ``before``, a resumed run's counts), also after the block;
        it returns ``None`` for a model without such a device.
    """
    devices = batch_devices(model)
    with contextlib.ExitStack() as stack:
        for device in devices:
            stack.callback(device.close)
        trackers = [stack.enter_context(qml.Tracker(d)) for d in devices]

        def totals() -> dict[str, int] | None:
            counted = execution_totals(trackers)
            if counted is None:
                return None
            return {k: (before or {}).get(k, 0) + v for k, v in counted.items()}

        yield totals


def execution_totals(trackers: list[Any]) -> dict[str, int] | None:
    """Primitive jobs, PUB rows and circuit shots counted by ``qml.Tracker`` on ``bridge.qiskit`` devices
    (``None`` without such a device)."""
    return summed([t.totals for t in trackers])


def summed(counts: list[Any]) -> dict[str, int] | None:
    """Execution counts added up (over devices, or over ranks); ``None`` when there are none (a model without a
    ``bridge.qiskit`` device)."""
    present = [c for c in counts if c is not None]
    if not present:
        return None
    return {k: sum(int(c.get(k, 0)) for c in present) for k in EXECUTION_KEYS}
