"""The layers a PyTorch model holds: :class:`QuantumLayer` (a QNode as a ``torch.nn.Module``,
:mod:`~bridge.layers.quantum_layer`), the QNodes it builds (:mod:`~bridge.layers.qnodes`) and Qiskit circuits as
QNode bodies (:mod:`~bridge.layers.from_qiskit`). ``QuantumLayer`` is imported lazily: importing a submodule
does not load torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time imported on first use
    from bridge.layers.quantum_layer import QuantumLayer

__all__ = ["QuantumLayer"]


def __getattr__(name: str) -> Any:
    if name == "QuantumLayer":
        from bridge.layers.quantum_layer import QuantumLayer

        return QuantumLayer
    raise AttributeError(f"module 'bridge.layers' has no attribute {name!r}")
