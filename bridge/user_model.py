"""A user's model as verification sees it: loaded from ``FILE.py:NAME``, and reduced to its quantum function, weight
shapes, wires and input size (:class:`Model`), whichever form it came in.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pennylane as qml
import torch

from bridge.exceptions import InputError
from bridge.qnodes import ListOutputs


@dataclass(frozen=True)
class Model:
    """What verification needs of a model.

    Attributes:
        name: for the report.
        qfunc: ``qfunc(inputs, **weights)`` returning a list of measurements.
        weight_shapes: the trainable arguments' shapes, in the order their flattened values are laid out.
        n_wires: qubits.
        n_inputs: the inputs' size.
        given: the model's own QNode (its device, diff method and shots), if it brought one.
        qiskit: for a ``from_qiskit`` layer, its :class:`~bridge.from_qiskit.QiskitFunction` (the original circuit).
    """

    name: str
    qfunc: Callable[..., Any]
    weight_shapes: dict[str, tuple[int, ...]]
    n_wires: int
    n_inputs: int
    given: qml.QNode | None = None
    qiskit: Any = None

    @property
    def n_weights(self) -> int:
        return sum(int(np.prod(s)) for s in self.weight_shapes.values())

    def unflatten(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for name, shape in self.weight_shapes.items():
            size = int(np.prod(shape))
            out[name] = w[start : start + size].reshape(shape)
            start += size
        return out


def as_model(obj: Any, *, weight_shapes: dict[str, Any] | None = None, n_inputs: int | None = None) -> Model:
    """A ``QuantumLayer``, ``TorchLayer``, QNode (with ``weight_shapes``) or zero-argument function returning one.

    Raises:
        InputError: anything else, or a QNode without its weight shapes.
    """
    from bridge.from_qiskit import QiskitFunction
    from bridge.layers import QuantumLayer

    if callable(obj) and not isinstance(obj, torch.nn.Module | qml.QNode) and _no_required_arguments(obj):
        obj = obj()
    if isinstance(obj, QuantumLayer):
        recipe = obj._recipe
        qiskit = recipe.qfunc if isinstance(recipe.qfunc, QiskitFunction) else None
        n_wires = recipe.n_wires or len(obj.qlayer.qnode.device.wires)
        return _complete(
            Model(
                obj.name,
                recipe.qfunc,
                dict(recipe.weight_shapes),
                n_wires,
                obj.n_inputs or 0,
                recipe.user_qnode,
                qiskit,
            ),
            obj.n_inputs if n_inputs is None else n_inputs,
        )
    if isinstance(obj, qml.qnn.TorchLayer):
        shapes = {name: tuple(p.shape) for name, p in obj.qnode_weights.items()}
        return _complete(_from_qnode(obj.qnode, shapes), n_inputs)
    if isinstance(obj, qml.QNode):
        if weight_shapes is None:
            raise InputError("verifying a QNode needs weight_shapes={name: shape} for its trainable arguments")
        shapes = {k: tuple(v) if isinstance(v, tuple | list) else (int(v),) for k, v in weight_shapes.items()}
        return _complete(_from_qnode(obj, shapes), n_inputs)
    raise InputError(
        f"cannot verify a {type(obj).__name__}: give a QuantumLayer, a qml.qnn.TorchLayer, a QNode with "
        "weight_shapes, or a zero-argument function returning one of these"
    )


def _no_required_arguments(func: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)


def _from_qnode(qnode: qml.QNode, shapes: dict[str, tuple[int, ...]]) -> Model:
    func = getattr(qnode.func, "function", qnode.func)  # a QuantumLayer's ListOutputs, or the user's function
    n_wires = len(qnode.device.wires) if qnode.device.wires is not None else 0
    return Model(getattr(func, "__name__", "qnode"), func, shapes, n_wires, 0, given=qnode)


def _complete(model: Model, n_inputs: int | None) -> Model:
    """Fill in ``n_inputs`` (given, else the smallest size from 1 to 2·wires the quantum function accepts) and the
    wires (from the circuit when the device did not say)."""
    candidates = [n_inputs] if n_inputs is not None else list(range(1, 2 * max(model.n_wires, 1) + 1))
    for n in candidates:
        try:
            tape = model_tape(
                model, torch.zeros(n, dtype=torch.float64), torch.zeros(model.n_weights, dtype=torch.float64)
            )
        except (ValueError, IndexError, TypeError) as e:
            if n_inputs is not None:
                raise InputError(f"{model.name} cannot be built with {n} input(s): {type(e).__name__}: {e}") from e
            continue
        return dataclasses.replace(model, n_inputs=n, n_wires=model.n_wires or len(tape.wires))
    raise InputError(f"{model.name}: no input size from 1 to {candidates[-1]} builds the circuit; give n_inputs")


def model_tape(model: Model, x: torch.Tensor, w: torch.Tensor) -> qml.tape.QuantumScript:
    return qml.tape.make_qscript(ListOutputs(model.qfunc))(x, **model.unflatten(w))


def load_model(spec: str) -> Any:
    """``FILE.py:NAME`` → the object ``NAME`` of that file (run as a module; not under ``__main__``).

    Raises:
        InputError: no such file or name.
    """
    path_text, _, name = spec.rpartition(":")
    path = Path(path_text)
    if not path_text or not name or not path.is_file():
        raise InputError(f"--model takes FILE.py:NAME with an existing file, got {spec!r}")
    module_spec = importlib.util.spec_from_file_location(f"verified_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
    folder = str(path.resolve().parent)  # as for a script: its folder's modules import (mnist37.py → mnist01)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(folder)
    if not hasattr(module, name):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise InputError(f"{path} has no {name!r}; it defines {', '.join(public)}")
    return getattr(module, name)
