"""A QNode on a profile's device, safe with batches: what :class:`bridge.QuantumLayer` and the examples build.

``make_qnode`` puts a quantum function on the device, shots and diff method a profile names; ``broadcast_safe``
routes batched inputs around the places where PennyLane would refuse them or return wrong values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pennylane as qml

import bridge.pickling  # noqa: F401  (QNodes and transforms pickle: a model of a decorated QNode saves whole)
from bridge.broadcast import split_broadcast
from bridge.device_factory import device as make_device
from bridge.profiles import Profile, load_profile

# PennyLane devices that run a broadcast tape natively (one simulation for the whole batch). Others, and
# PennyLane's gradient transforms when a broadcast parameter is trainable, get one tape per sample.
NATIVE_BROADCAST_DEVICES = ("default.qubit", "default.mixed")
GRADIENT_TRANSFORMS = ("parameter-shift", "finite-diff", "spsa")


def broadcast_safe(qnode: qml.QNode) -> qml.QNode:
    """``qnode``, with broadcast tapes split per sample where PennyLane would otherwise fail or be wrong.

    PennyLane's gradient transforms refuse trainable broadcast parameters (PennyLane #6078), and the
    ``broadcast_expand`` that devices without native broadcasting apply returns wrong values for some gates
    (see :mod:`bridge.broadcast`). ``bridge.qiskit`` handles both itself; ``default.qubit`` with backprop
    (or ``"best"``) broadcasts natively.
    """
    if qnode.device.name == "bridge.qiskit":  # its own shift rule takes batches; PennyLane's transforms do not
        device_gradient = qnode.diff_method in ("best", "device", "parameter-shift", None)
        return qnode if device_gradient else split_broadcast(qnode, always=False)
    native = qnode.device.name in NATIVE_BROADCAST_DEVICES
    if native and qnode.diff_method in ("backprop", "best", None):
        return qnode
    return split_broadcast(qnode, always=not (native and qnode.diff_method in GRADIENT_TRANSFORMS))


def make_qnode(
    qfunc: Callable[..., Any], profile: str | Profile | None, wires: int, gradient_kwargs: dict[str, Any] | None = None
) -> qml.QNode:
    """Build a torch-interface QNode for ``qfunc`` on the profile's device, shots and diff method.

    The device's default shots are the profile's (see :func:`bridge.device_factory.device`); ``qml.set_shots`` on
    the returned QNode overrides them. ``gradient_kwargs`` go to the gradient transform (for example
    ``{"h": 0.2, "approx_order": 2}`` for finite differences). Batched inputs that require grad work with
    every diff method (:func:`broadcast_safe`).
    """
    prof = load_profile(profile)
    dev = make_device(prof, wires)
    qnode = qml.QNode(
        qfunc, dev, interface="torch", diff_method=prof.diff_method, gradient_kwargs=dict(gradient_kwargs or {})
    )
    return broadcast_safe(qnode)


class ListOutputs:
    """A quantum function whose measurements always come back as a list (picklable when ``function`` is).

    ``TorchLayer`` concatenates a list of results into ``(batch, Σ sizes)`` but stacks a tuple along a new first
    dimension; :class:`QuantumLayer` promises the first, whatever the user's function returns.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.__name__ = function_name(function)  # TorchLayer's and QNode's reprs read it

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.function(*args, **kwargs)
        return list(result) if isinstance(result, tuple | list) else [result]

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.function)


def function_name(function: Any) -> str:
    return getattr(function, "__name__", None) or type(function).__name__
