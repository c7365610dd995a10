"""A hand-written Qiskit + ``torch.autograd`` implementation of hybrid layers, independent of PennyLane.

It exists to check the PennyLane path (``bridge.verification.library``), so it shares no code with it: it never
imports PennyLane (a test enforces this) and builds its circuits with Qiskit alone.
"""

from bridge.reference.qnn import ReferenceFunction, ReferenceLayer, ReferenceQNN

__all__ = ["ReferenceFunction", "ReferenceLayer", "ReferenceQNN"]
