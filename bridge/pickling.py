"""QNodes and PennyLane transforms that pickle: a whole model (``torch.save(model)``, ``copy.deepcopy``) whose circuit
is a ``@qml.qnode``-decorated function, PennyLane #2204.

Pickle stores a function by its module and name and checks that the name leads back to the same object; for a
decorated function the name leads to the QNode, so ``pickle`` refuses it, and the same holds for PennyLane's
transforms (a QNode's ``diff_method=qml.gradients.param_shift``, the transforms applied to it). Importing this
module registers reducers (``copyreg``) for :class:`qml.QNode` and PennyLane's ``Transform``: a QNode pickles as a
reference to its function (module and name; a decorated name resolves to the QNode, whose ``func`` is the
function), its device (pickled as the device pickles itself: ``bridge.qiskit`` as its profile and settings,
PennyLane's devices as their wires, shots and seeds) and its settings (diff method, shots, gradient and execution
options, applied transforms), and is rebuilt when loaded; a transform pickles by its name. ``copy.deepcopy`` goes
the same way but keeps the same function, so that needs no name. :mod:`bridge.layers.qnodes` and :mod:`bridge.qiskit`
import it: loading a QuantumLayer, ``make_qnode`` or the ``bridge.qiskit`` device is enough.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
import pickle
import types
from typing import Any

import pennylane as qml
from pennylane.devices import LegacyDeviceFacade
from pennylane.transforms.core import Transform

# rebuilt from the function on loading, or caches of the last call (tapes and outputs, which may hold tensors)
_NOT_PICKLED = frozenset({"func", "__wrapped__", "_init_args", "_tape", "_qfunc_output"})


class Reference:
    """An object that pickles by its module and qualified name (a function, a transform), and deep-copies as itself.

    Unpickled, it is the object that name leads to; for a function decorated with ``@qml.qnode`` the name leads
    to the QNode, and it is the QNode's function. Anything else (a callable class's instance, a partial) pickles
    as it would on its own.
    """

    def __init__(self, target: Any) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        if not isinstance(self.target, types.FunctionType | Transform):
            return (_same, (self.target,))
        module, name = getattr(self.target, "__module__", None), getattr(self.target, "__qualname__", "?")
        try:
            found = _resolve(module, name) if module and "<" not in name else None
        except (ImportError, AttributeError):
            found = None
        if found is not self.target:
            what = "transform" if isinstance(self.target, Transform) else "quantum function"
            raise pickle.PicklingError(
                f"cannot pickle the {what} {name!r} of module {module!r}: a QNode's function and its transforms "
                f"are saved by module and name, and {name!r} cannot be imported by that name (a lambda, or a "
                "function defined inside another function). Define it at module level (def in a module's top "
                "level), or save model.state_dict() and rebuild the model to load it"
            )
        return (_resolve, (module, name))

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self.target


def _same(target: Any) -> Any:
    return target


def _resolve(module: str, qualname: str) -> Any:
    """The object ``module.qualname`` names; for a ``@qml.qnode``-decorated function, its function."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found.func if isinstance(found, qml.QNode) else found


def _reduce_qnode(qnode: qml.QNode) -> tuple[Any, ...]:
    func = qnode.func
    wrapped = set(functools.WRAPPER_ASSIGNMENTS) | set(getattr(func, "__dict__", {}))  # functools.update_wrapper
    state = {k: v for k, v in vars(qnode).items() if k not in _NOT_PICKLED | wrapped}
    init_args = {k: v for k, v in qnode._init_args.items() if k != "func"}
    return (_rebuild_qnode, (Reference(func), init_args, state))


def _rebuild_qnode(func: Any, init_args: dict[str, Any], state: dict[str, Any]) -> qml.QNode:
    """Unpickling of a QNode: its function, its ``QNode(...)`` arguments and the rest of its state, as they were."""
    qnode = qml.QNode.__new__(qml.QNode)
    functools.update_wrapper(qnode, func)  # as QNode.__init__ does: name, docstring, __wrapped__
    vars(qnode).update(state)
    qnode.func = func
    qnode._init_args = {"func": func, **init_args}  # what QNode.update rebuilds from
    qnode._tape = qnode._qfunc_output = None
    return qnode


def _reduce_transform(transform: Transform) -> tuple[Any, ...]:
    return (_same, (Reference(transform),))


def _reduce_legacy_device(device: LegacyDeviceFacade) -> tuple[Any, ...]:
    # PennyLane 0.45's facade (qiskit.aer and other old-API plugins) recurses in __getattr__ when unpickled
    return (LegacyDeviceFacade, (device._device,))


copyreg.pickle(qml.QNode, _reduce_qnode)
copyreg.pickle(Transform, _reduce_transform)
copyreg.pickle(LegacyDeviceFacade, _reduce_legacy_device)
