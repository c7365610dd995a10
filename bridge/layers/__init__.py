"""The layers a PyTorch model holds: :class:`QuantumLayer` (a QNode as a ``torch.nn.Module``,
:mod:`~bridge.layers.quantum_layer`), the QNodes it builds (:mod:`~bridge.layers.qnodes`), splitting broadcast
tapes (:mod:`~bridge.layers.broadcast`), Qiskit circuits as QNode bodies (:mod:`~bridge.layers.from_qiskit`) and
whole-model pickling (:mod:`~bridge.layers.pickling`)."""

from bridge.layers.quantum_layer import QuantumLayer

__all__ = ["QuantumLayer"]
