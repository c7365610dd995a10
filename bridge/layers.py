"""QNode → ``torch.nn.Module``: the profile decides the backend, PennyLane's ``TorchLayer`` does the rest.

Shape contract of :class:`QuantumLayer`: input ``(batch, n_inputs)`` (or ``(n_inputs,)``), output
``(batch, n_outputs)`` (or ``(n_outputs,)``), in the input's floating dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pennylane as qml
import torch
from torch import nn

from bridge.backends import device as make_device
from bridge.circuits import CircuitSpec
from bridge.exceptions import InputError
from bridge.profiles import Profile, load_profile

# Gradient methods that differentiate broadcast tapes natively; all others need one tape per sample.
_NATIVE_BROADCAST_GRADIENTS = ("backprop", "device")


def make_qnode(qfunc: Callable[..., Any], profile: str | Profile | None, wires: int,
               gradient_kwargs: dict[str, Any] | None = None) -> qml.QNode:
    """Build a torch-interface QNode for ``qfunc`` on the profile's device, shots and diff method.

    ``gradient_kwargs`` go to the gradient transform (for example ``{"h": 0.2, "approx_order": 2}`` for
    finite differences).

    Batched inputs that require grad work with parameter-shift: PennyLane's gradient transforms refuse
    broadcast tapes whose broadcast parameters are trainable (PennyLane #6078), so the QNode is wrapped
    in ``qml.transforms.broadcast_expand`` (one tape per sample) unless the method is ``backprop`` or
    ``device`` (the ``bridge.qiskit`` device differentiates broadcast tapes itself).
    """
    prof = load_profile(profile)
    dev = make_device(prof, wires)
    qnode = qml.QNode(qfunc, dev, interface="torch", diff_method=prof.diff_method,
                      gradient_kwargs=dict(gradient_kwargs or {}))
    qnode = qml.set_shots(qnode, shots=prof.shots)
    if prof.diff_method not in _NATIVE_BROADCAST_GRADIENTS:
        qnode = qml.transforms.broadcast_expand(qnode)
    return qnode


class QuantumLayer(nn.Module):
    """A parameterized quantum circuit as a PyTorch layer, on the backend a device profile names.

    Args:
        circuit: a :class:`~bridge.circuits.CircuitSpec` from :mod:`bridge.circuits` or your own.
        profile: a profile, its name or path; ``None`` uses ``$BRIDGE_DEVICE`` or ``"aer"``.
        init_method: weight initializer passed to ``TorchLayer`` (default: uniform on [0, 2π)).
        gradient_kwargs: options of the profile's gradient method, e.g. ``{"h": 0.2}`` for ``finite-diff``.

    Shapes:
        input ``(batch, n_inputs)`` or ``(n_inputs,)``, angles in radians; output ``(batch, n_outputs)``
        or ``(n_outputs,)``, expectation values in [−1, 1].

    Example:
        >>> from bridge import QuantumLayer, circuits
        >>> layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="default")
        >>> layer(torch.zeros(8, 4)).shape
        torch.Size([8, 4])
    """

    def __init__(self, circuit: CircuitSpec, *, profile: str | Profile | None = None,
                 init_method: Callable[..., Any] | dict[str, Any] | None = None,
                 gradient_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        if not isinstance(circuit, CircuitSpec):
            raise InputError(f"QuantumLayer expects a bridge.circuits.CircuitSpec, got {type(circuit).__name__}; "
                             "wrap your quantum function as CircuitSpec(name, qfunc, n_wires, n_inputs, n_outputs, "
                             "weight_shapes)")
        check_circuit(circuit)
        self.circuit = circuit
        self.profile = load_profile(profile)
        qnode = make_qnode(circuit.qfunc, self.profile, circuit.n_wires, gradient_kwargs)
        self.qlayer = qml.qnn.TorchLayer(qnode, dict(circuit.weight_shapes), init_method=init_method)

    @property
    def n_inputs(self) -> int:
        """Size of the last input dimension."""
        return self.circuit.n_inputs

    @property
    def n_outputs(self) -> int:
        """Size of the last output dimension."""
        return self.circuit.n_outputs

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Evaluate the circuit; see the class docstring for shapes."""
        check_inputs(inputs, self.circuit)
        for name, weight in self.qlayer.qnode_weights.items():
            if not torch.isfinite(weight).all():
                raise InputError(f"weight {name!r} of {self.circuit.name} contains NaN or inf; the optimizer "
                                 "diverged or the state_dict was corrupt: lower the learning rate or reload")
        out = self.qlayer(inputs)
        return out.reshape(*inputs.shape[:-1], self.n_outputs)

    def extra_repr(self) -> str:
        weights = ", ".join(f"{k}={tuple(v)}" for k, v in self.circuit.weight_shapes.items()) or "none"
        return (f"circuit={self.circuit.name}, wires={self.circuit.n_wires}, inputs={self.n_inputs}, "
                f"outputs={self.n_outputs}, weights={weights}, profile={self.profile.name!r}")


def check_circuit(circuit: CircuitSpec) -> None:
    """Build the circuit once with zero inputs and weights of the declared shapes, before any device exists.

    Raises:
        InputError: the quantum function fails with the declared ``weight_shapes`` or ``n_inputs`` (the
            message quotes its error), returns another number of measurements than ``n_outputs``, or
            acts on wires outside ``0..n_wires-1``.
    """
    shapes = ", ".join(f"{k}={tuple(v)}" for k, v in circuit.weight_shapes.items()) or "none"
    inputs = torch.zeros(circuit.n_inputs, dtype=torch.float64)
    weights = {k: torch.zeros(tuple(v), dtype=torch.float64) for k, v in circuit.weight_shapes.items()}
    try:
        tape = qml.tape.make_qscript(circuit.qfunc)(inputs, **weights)
    except (ValueError, IndexError, TypeError, RuntimeError, KeyError) as e:
        raise InputError(f"{circuit.name} cannot be built with weight shapes {shapes} and {circuit.n_inputs} "
                         f"input(s): {type(e).__name__}: {e}. Make weight_shapes match what the quantum function "
                         "indexes (for templates, e.g. qml.StronglyEntanglingLayers.shape(n_layers, n_wires))") from e
    if len(tape.measurements) != circuit.n_outputs:
        raise InputError(f"{circuit.name} returns {len(tape.measurements)} measurement(s) but its CircuitSpec says "
                         f"n_outputs={circuit.n_outputs}; make them agree")
    outside = [w for w in tape.wires if not (isinstance(w, int) and 0 <= w < circuit.n_wires)]
    if outside:
        raise InputError(f"{circuit.name} acts on wire(s) {outside} outside 0..{circuit.n_wires - 1}; raise n_wires "
                         "or fix the wires")


def check_inputs(inputs: Any, circuit: CircuitSpec) -> None:
    """Raise :class:`InputError` unless ``inputs`` is a finite float tensor of shape ``(..., n_inputs)``."""
    if not isinstance(inputs, torch.Tensor):
        raise InputError(f"{circuit.name} expects a torch.Tensor, got {type(inputs).__name__}; "
                         "convert with torch.as_tensor(x, dtype=torch.float32)")
    if not inputs.is_floating_point():
        raise InputError(f"{circuit.name} expects a floating-point tensor (angles in radians), got dtype "
                         f"{inputs.dtype}; convert with x.float() or x.double()")
    if inputs.ndim == 0 or inputs.shape[-1] != circuit.n_inputs:
        raise InputError(f"{circuit.name} takes {circuit.n_inputs} feature(s) per sample (one per embedded "
                         f"wire), got input of shape {tuple(inputs.shape)}; reshape to (batch, "
                         f"{circuit.n_inputs}) or put a Linear(..., {circuit.n_inputs}) before the layer")
    if inputs.shape[:-1].numel() == 0:
        raise InputError(f"{circuit.name} got an empty batch of shape {tuple(inputs.shape)}; "
                         "give at least one sample")
    if not torch.isfinite(inputs).all():
        raise InputError(f"{circuit.name} got NaN or inf in its inputs (shape {tuple(inputs.shape)}); "
                         "check the data and the layers before the circuit")
