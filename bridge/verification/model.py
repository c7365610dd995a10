"""A user's model as verification sees it: loaded from ``FILE.py:NAME``, its quantum layers found, and each reduced to
its quantum function, weight shapes, wires and input size (:class:`Model`), whichever form it came in.

What cannot be verified raises :class:`~bridge.exceptions.InputError` with one line naming the fix (the command
line's option, then the Python argument): a file that is not Python or fails to import (its error's last line), a
module holding no quantum layer, a QNode without its weight shapes, shapes the circuit does not build with, a
measurement verification does not compare.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP

from bridge.exceptions import InputError
from bridge.layers.qnodes import ListOutputs

COMPARED = (ExpectationMP, VarianceMP, ProbabilityMP)  # the measurements verification compares


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
        qiskit: for a ``from_qiskit`` layer, its :class:`~bridge.layers.from_qiskit.QiskitFunction` (the
            original circuit).
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
    """A ``QuantumLayer``, ``TorchLayer``, QNode (with ``weight_shapes``) or zero-argument function returning one
    (a :class:`Model` is returned as it is).

    Raises:
        InputError: anything else, a QNode without its weight shapes, or a circuit that does not build.
    """
    from bridge.layers import QuantumLayer
    from bridge.layers.from_qiskit import QiskitFunction

    obj = _called(obj)
    if isinstance(obj, Model):
        return obj
    if isinstance(obj, QuantumLayer):
        recipe = obj.recipe
        qiskit = recipe.qfunc if isinstance(recipe.qfunc, QiskitFunction) else None
        n_wires = recipe.n_wires or len(obj.qlayer.qnode.device.wires)
        model = Model(
            obj.name, recipe.qfunc, dict(recipe.weight_shapes), n_wires, obj.n_inputs or 0, recipe.user_qnode, qiskit
        )
        return _complete(model, obj.n_inputs if n_inputs is None else n_inputs)
    if isinstance(obj, qml.qnn.TorchLayer):
        shapes = {name: tuple(p.shape) for name, p in obj.qnode_weights.items()}
        return _complete(_from_qnode(obj.qnode, shapes), n_inputs)
    if isinstance(obj, qml.QNode):
        if weight_shapes is None:
            func = getattr(obj.func, "function", obj.func)
            trainable = list(inspect.signature(func).parameters)[1:] or ["weights"]
            example = " ".join(f"--weight-shape {name}=D1,D2" for name in trainable)
            raise InputError(
                f"{getattr(func, '__name__', 'the QNode')} is a QNode: give the shape of each trainable argument "
                f"({', '.join(trainable)}) with {example} (weight_shapes={{name: shape}} in Python)"
            )
        shapes = {k: tuple(v) if isinstance(v, tuple | list) else (int(v),) for k, v in weight_shapes.items()}
        return _complete(_from_qnode(obj, shapes), n_inputs)
    raise InputError(
        f"cannot verify a {type(obj).__name__}: give a QuantumLayer, a qml.qnn.TorchLayer, a torch module holding "
        "them, a QNode with --weight-shape, or a zero-argument function returning one of these"
    )


def quantum_layers(obj: Any) -> list[tuple[str, Any]]:
    """The quantum layers to verify in ``obj``, each with its path in the module (``""`` for ``obj`` itself): ``obj``
    if it is a layer, QNode or function, else every ``QuantumLayer`` and ``qml.qnn.TorchLayer`` among its
    ``.modules()`` (not those inside another one).

    Raises:
        InputError: a torch module with no quantum layer, or a zero-argument function that fails.
    """
    from bridge.layers import QuantumLayer

    obj = _called(obj)
    layers = QuantumLayer | qml.qnn.TorchLayer
    if not isinstance(obj, torch.nn.Module) or isinstance(obj, layers):
        return [("", obj)]
    found: list[tuple[str, Any]] = []
    for path, module in obj.named_modules():
        inside = any(path.startswith(f"{outer}.") for outer, _ in found)
        if isinstance(module, layers) and not inside:
            found.append((path, module))
    if not found:
        raise InputError(
            f"{type(obj).__name__} holds no quantum layer: verify looks for QuantumLayer and qml.qnn.TorchLayer "
            "modules in it (its .modules()); name the layer itself with --model FILE.py:NAME"
        )
    return found


def _called(obj: Any) -> Any:
    """``obj()`` for a zero-argument function (a factory of the model), else ``obj``."""
    if not callable(obj) or isinstance(obj, torch.nn.Module | qml.QNode) or not _no_required_arguments(obj):
        return obj
    try:
        return obj()
    except Exception as e:
        raise InputError(f"calling {getattr(obj, '__name__', 'the model')}() failed: {error_line(e)}") from e


def error_line(e: BaseException) -> str:
    """An exception in one line: its own last line, and where it was raised (file and line)."""
    text = traceback.format_exception_only(type(e), e)[-1].strip()
    if isinstance(e, SyntaxError) and e.filename:  # where the file is wrong, not where Python read it
        return f"{text} ({Path(e.filename).name}, line {e.lineno})"
    frames = traceback.extract_tb(e.__traceback__)
    return f"{text} ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else text


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
    wires (from the circuit when the device did not say); check its measurements."""
    candidates = [n_inputs] if n_inputs is not None else list(range(1, 2 * max(model.n_wires, 1) + 1))
    errors: dict[int, str] = {}
    for n in candidates:
        try:
            tape = model_tape(
                model, torch.zeros(n, dtype=torch.float64), torch.zeros(model.n_weights, dtype=torch.float64)
            )
        except Exception as e:
            errors[n] = error_line(e)
            continue
        _check_measurements(model.name, tape)
        return dataclasses.replace(model, n_inputs=n, n_wires=model.n_wires or len(tape.wires))
    shapes = ", ".join(f"{k}={v}" for k, v in model.weight_shapes.items()) or "none"
    sizes = f"{n_inputs} input(s)" if n_inputs is not None else f"any input size from 1 to {candidates[-1]}"
    # what it says with one input per wire (where embeddings fit), and with the last size tried if that differs
    shown = dict.fromkeys([model.n_wires if model.n_wires in errors else candidates[0], candidates[-1]])
    said = "; ".join(dict.fromkeys(f"with {n} input(s): {errors[n]}" for n in shown))
    raise InputError(
        f"{model.name} does not build with weight shapes {shapes} and {sizes} ({said}): check the weight shapes "
        "(--weight-shape NAME=D1,D2 for a QNode, the layer's weight_shapes otherwise), then the input size "
        "(--n-inputs N; n_inputs= in Python)"
    )


def _check_measurements(name: str, tape: qml.tape.QuantumScript) -> None:
    unsupported = [m for m in tape.measurements if not isinstance(m, COMPARED) or (m.obs is None and m.mv is not None)]
    if unsupported:
        raise InputError(
            f"{name} returns {unsupported[0]}: verify compares expval, var and probs of its measurements (not "
            "samples, counts, states or mid-circuit measurements)"
        )


def model_tape(model: Model, x: torch.Tensor, w: torch.Tensor) -> qml.tape.QuantumScript:
    return qml.tape.make_qscript(ListOutputs(model.qfunc))(x, **model.unflatten(w))


def load_model(spec: str) -> Any:
    """``FILE.py:NAME`` → the object ``NAME`` of that file (imported as a module, not as ``__main__``: its code runs).

    Raises:
        InputError: no such file or name, a file that is not Python, or one whose import fails (its last line).
    """
    path_text, _, name = spec.rpartition(":")
    path = Path(path_text)
    if not path_text or not name or not path.is_file():
        raise InputError(f"--model takes FILE.py:NAME with an existing file, got {spec!r}")
    if path.suffix != ".py":
        raise InputError(f"--model takes FILE.py:NAME: {path} is not a Python file (.py)")
    module_spec = importlib.util.spec_from_file_location(f"verified_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
    folder = str(path.resolve().parent)  # as for a script: its folder's modules import (mnist37.py → mnist01)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    except (Exception, SystemExit) as e:
        raise InputError(f"importing {path} failed: {error_line(e)}") from e
    finally:
        sys.path.remove(folder)
    if not hasattr(module, name):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise InputError(f"{path} has no {name!r}; it defines {', '.join(public)}")
    return getattr(module, name)
