"""QNode → ``torch.nn.Module``: the profile decides the backend, PennyLane's ``TorchLayer`` does the rest.

Shape contract of :class:`QuantumLayer`: input ``(batch, n_inputs)`` (or ``(n_inputs,)``, or more leading
dimensions), output ``(batch, n_outputs)`` (or ``(n_outputs,)``) in the input's floating dtype, the circuit's
measurements concatenated in order: one column per expectation value or variance, ``2**k`` per probability
vector of ``k`` wires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pennylane as qml
import torch
from pennylane.measurements import ExpectationMP, ProbabilityMP, VarianceMP
from torch import nn

from bridge.circuits import CircuitSpec
from bridge.exceptions import InputError
from bridge.layers.qnodes import ListOutputs, broadcast_safe, function_name, make_qnode
from bridge.pickling import Reference
from bridge.profiles import Profile, load_profile


@dataclass(frozen=True)
class _Recipe:
    """Everything a :class:`QuantumLayer` is rebuilt from (when unpickled or deep-copied).

    ``profile`` for a circuit or quantum function on a profile; ``user_qnode`` for a user's QNode, whose device,
    diff method, shots, options and transforms are all kept (``QNode.update`` swaps only the function).
    """

    qfunc: Callable[..., Any]
    name: str
    weight_shapes: dict[str, tuple[int, ...]]
    n_wires: int | None
    profile: Profile | None = None
    gradient_kwargs: dict[str, Any] = field(default_factory=dict)
    user_qnode: qml.QNode | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """The quantum function pickles by module and name (a ``@qml.qnode``-decorated one too), a user's QNode as
        any QNode does (:mod:`bridge.pickling`: its function by name, its device, its settings)."""
        values = [getattr(self, f.name) for f in fields(self)]
        return (_Recipe, (Reference(self.qfunc), *values[1:]))

    def qnode(self) -> qml.QNode:
        function = ListOutputs(self.qfunc)
        if self.user_qnode is None:
            return make_qnode(function, self.profile, self.n_wires or 0, self.gradient_kwargs)
        return broadcast_safe(self.user_qnode.update(func=function, interface="torch"))


class QuantumLayer(nn.Module):
    """A parameterized quantum circuit as a PyTorch layer, on the backend a device profile names.

    Three ways in, all trained by ``qml.qnn.TorchLayer``:

    * a :class:`~bridge.circuits.CircuitSpec` from :mod:`bridge.circuits` (or your own), on ``profile``;
    * a quantum function ``qfunc(inputs, **weights)`` with ``weight_shapes`` and ``n_wires``, on ``profile``;
    * your own ``qml.QNode`` (any device, diff method and shots it was built with) with ``weight_shapes``.

    Args:
        circuit: a ``CircuitSpec``, a quantum function or a QNode; its first argument is ``inputs``.
        profile: a profile, its name or path (``None``: ``$BRIDGE_DEVICE`` or ``"aer"``); not with a QNode,
            which brings its own device.
        weight_shapes: shape of each trainable argument (not with a ``CircuitSpec``, which has its own).
        n_wires: number of qubits (a quantum function only).
        n_inputs: size of the inputs' last dimension, if known; otherwise learned from the first call
            (a ``CircuitSpec`` has its own).
        init_method: weight initializer passed to ``TorchLayer`` (default: uniform on [0, 2π)).
        gradient_kwargs: options of the profile's gradient method, e.g. ``{"h": 0.2}`` for ``finite-diff``.

    Shapes:
        input ``(..., n_inputs)``, angles in radians; output ``(..., n_outputs)``, the measurements
        concatenated (one column per expectation value or variance, ``2**k`` per ``probs`` of ``k`` wires).

    Saving: ``torch.save(model.state_dict())`` is the recommended format (tensors only; load it with
    ``weights_only=True`` into a model built the same way). ``torch.save(model)`` and ``copy.deepcopy`` work
    too: the layer pickles as its quantum function (by reference: a module-level function, ``@qml.qnode``-decorated
    or not, or a library circuit), weight shapes and profile or QNode (its device and settings), and rebuilds its
    QNode when loaded (:mod:`bridge.pickling`; a lambda or local function is refused, naming it).

    Example:
        >>> from bridge import QuantumLayer, circuits
        >>> layer = QuantumLayer(circuits.angle_entangling(4, 2), profile="default")
        >>> layer(torch.zeros(8, 4)).shape
        torch.Size([8, 4])
    """

    def __init__(
        self,
        circuit: CircuitSpec | qml.QNode | Callable[..., Any],
        *,
        profile: str | Profile | None = None,
        weight_shapes: Mapping[str, Any] | None = None,
        n_wires: int | None = None,
        n_inputs: int | None = None,
        init_method: Callable[..., Any] | dict[str, Any] | None = None,
        gradient_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._recipe = _recipe(circuit, profile, weight_shapes, n_wires, gradient_kwargs)
        self.profile = self._recipe.profile
        self._n_inputs = circuit.n_inputs if isinstance(circuit, CircuitSpec) else n_inputs
        self._n_outputs: int | None = None
        if self._n_inputs is not None:
            n_measurements, self._n_outputs = check_circuit(self._recipe, self._n_inputs)
            if isinstance(circuit, CircuitSpec) and self._n_outputs != circuit.n_outputs:
                raise InputError(
                    f"{circuit.name} returns {n_measurements} measurement(s) but its CircuitSpec says "
                    f"n_outputs={circuit.n_outputs} (the measurements give {self._n_outputs} value(s)); "
                    "make them agree"
                )
        self.qlayer = qml.qnn.TorchLayer(
            self._recipe.qnode(), dict(self._recipe.weight_shapes), init_method=init_method
        )

    @classmethod
    def from_qiskit(
        cls,
        circuit: Any,
        *,
        inputs: Any,
        weights: Any,
        observables: Any,
        profile: str | Profile | None = None,
        init_method: Callable[..., Any] | None = None,
    ) -> QuantumLayer:
        """A layer from a Qiskit circuit: ``inputs`` and ``weights`` (``ParameterVector``s or sequences of
        ``Parameter``s; the layer's one weight tensor ``weights`` follows their order), measured as ``⟨O_m⟩`` of each
        ``SparsePauliOp`` of ``observables``; trained on any profile through PennyLane
        (:class:`bridge.layers.from_qiskit.QiskitFunction`). ``bridge.verification.verify_model`` checks it against the
        original circuit. Composite instructions (Qiskit's circuit-library classes such as ``ZZFeatureMap``, gates
        built from sub-circuits) are expanded into their definitions first.

        Raises:
            InputError: a parameter that is neither an input nor a weight, or an instruction that can be neither
                translated nor expanded (named).
        """
        from bridge.layers.from_qiskit import QiskitFunction

        qfunc = QiskitFunction(circuit, inputs, weights, observables)
        return cls(
            qfunc,
            weight_shapes={"weights": (len(qfunc.weights),)},
            n_wires=circuit.num_qubits,
            n_inputs=len(qfunc.inputs),
            profile=profile,
            init_method=init_method,
        )

    @property
    def recipe(self) -> _Recipe:
        """What the layer was built from (read-only): its quantum function, weight shapes, wires, resolved profile
        and the user's own QNode if one was given (verification reads these)."""
        return self._recipe

    @property
    def name(self) -> str:
        """The circuit's name, for messages."""
        return self._recipe.name

    @property
    def n_inputs(self) -> int | None:
        """Size of the last input dimension (``None`` until the first call, if it was not given)."""
        return self._n_inputs

    @property
    def n_outputs(self) -> int | None:
        """Size of the last output dimension (``None`` until the first call, if ``n_inputs`` was not given)."""
        return self._n_outputs

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Evaluate the circuit; see the class docstring for shapes."""
        if self._n_inputs is None and isinstance(inputs, torch.Tensor) and inputs.ndim:
            self._n_outputs = check_circuit(self._recipe, inputs.shape[-1])[1]
            self._n_inputs = inputs.shape[-1]
        check_inputs(inputs, self.name, self._n_inputs)
        if inputs.dtype == torch.bfloat16:  # no simulator computes in bfloat16: float32 there, bfloat16 back
            return self.forward(inputs.float()).to(torch.bfloat16)
        for name, weight in self.qlayer.qnode_weights.items():
            if not torch.isfinite(weight).all():
                raise InputError(
                    f"weight {name!r} of {self.name} contains NaN or inf; the optimizer "
                    "diverged or the state_dict was corrupt: lower the learning rate or reload"
                )
        out = self.qlayer(inputs) if torch.is_grad_enabled() else self._without_gradients(inputs)
        return out.reshape(*inputs.shape[:-1], out.shape[-1] if self._n_outputs is None else self._n_outputs)

    def _without_gradients(self, inputs: torch.Tensor) -> torch.Tensor:
        """The forward pass under ``torch.no_grad()``: the QNode with detached inputs and weights, so that nothing
        is trainable and a device computes no derivatives (``bridge.qiskit`` then sends the forward rows only).
        Its measurements come as a list (:class:`ListOutputs`), concatenated as ``TorchLayer`` does."""
        x = inputs.detach().reshape(-1, inputs.shape[-1]) if inputs.ndim > 1 else inputs.detach()
        weights = {name: w.detach().to(x) for name, w in self.qlayer.qnode_weights.items()}
        results = self.qlayer.qnode(**{self.qlayer.input_arg: x}, **weights)
        parts = [
            torch.as_tensor(r).reshape(x.shape[0], -1) if x.ndim > 1 else torch.as_tensor(r).reshape(-1)
            for r in results
        ]
        return torch.cat(parts, dim=-1).to(device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        weights = ", ".join(f"{k}={tuple(v)}" for k, v in self._recipe.weight_shapes.items()) or "none"
        where = f"profile={self.profile.name!r}" if self.profile else f"device={self.qlayer.qnode.device.name!r}"
        return (
            f"circuit={self.name}, wires={self._recipe.n_wires}, inputs={self._n_inputs}, "
            f"outputs={self._n_outputs}, weights={weights}, {where}"
        )

    # ------------------------------------------------------------ pickling: a recipe, not a QNode
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_modules"] = {k: v for k, v in state["_modules"].items() if k != "qlayer"}
        state["_quantum_weights"] = dict(self.qlayer.qnode_weights)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights = state.pop("_quantum_weights")
        super().__setstate__(state)
        # zeros: rebuilding must not draw from torch's global RNG (a deepcopy would change later random numbers)
        self.qlayer = qml.qnn.TorchLayer(
            self._recipe.qnode(), dict(self._recipe.weight_shapes), init_method=nn.init.zeros_
        )
        for name, weight in weights.items():
            self.qlayer.qnode_weights[name] = weight
            self.qlayer.register_parameter(name, weight)


def _recipe(
    circuit: Any,
    profile: str | Profile | None,
    weight_shapes: Mapping[str, Any] | None,
    n_wires: int | None,
    gradient_kwargs: dict[str, Any] | None,
) -> _Recipe:
    """What the layer is built from; refuses combinations that do not fit together, naming the fix."""
    shapes = (
        None
        if weight_shapes is None
        else {k: tuple(v) if isinstance(v, tuple | list) else (int(v),) for k, v in weight_shapes.items()}
    )
    if isinstance(circuit, CircuitSpec):
        if weight_shapes is not None or n_wires is not None:
            raise InputError(
                f"QuantumLayer got a CircuitSpec ({circuit.name}) and weight_shapes/n_wires; a "
                "CircuitSpec carries its own, so drop them"
            )
        return _Recipe(
            circuit.qfunc,
            circuit.name,
            dict(circuit.weight_shapes),
            circuit.n_wires,
            load_profile(profile),
            dict(gradient_kwargs or {}),
        )
    if isinstance(circuit, qml.QNode):
        if profile is not None:
            raise InputError(
                "QuantumLayer got a QNode and a profile; a QNode brings its own device. Either pass "
                "the QNode alone, or pass its quantum function (qnode.func) with the profile"
            )
        if shapes is None:
            raise InputError(
                "QuantumLayer(qnode) needs weight_shapes={name: shape} for the QNode's trainable "
                "arguments (an empty dict if it has none)"
            )
        n = len(circuit.device.wires) if circuit.device.wires is not None else None
        return _Recipe(circuit.func, function_name(circuit.func), shapes, n, user_qnode=circuit)
    if callable(circuit):
        if shapes is None or n_wires is None:
            raise InputError(
                "QuantumLayer(qfunc) needs weight_shapes={name: shape} (an empty dict if there are "
                "no weights) and n_wires, the number of qubits"
            )
        return _Recipe(
            circuit, function_name(circuit), shapes, n_wires, load_profile(profile), dict(gradient_kwargs or {})
        )
    raise InputError(
        f"QuantumLayer expects a bridge.circuits.CircuitSpec, a qml.QNode or a quantum function, got "
        f"{type(circuit).__name__}"
    )


def output_size(measurement: Any, n_wires: int) -> int:
    """Columns a measurement contributes to the layer's output.

    Raises:
        InputError: a measurement a layer cannot output as real numbers (samples, counts, states).
    """
    if isinstance(measurement, ExpectationMP | VarianceMP):
        return 1
    if isinstance(measurement, ProbabilityMP):
        return 2 ** (len(measurement.wires) or n_wires)
    raise InputError(
        f"a QuantumLayer outputs expectation values, variances and probabilities; "
        f"{type(measurement).__name__} ({measurement}) cannot be a layer's output"
    )


def check_circuit(recipe: _Recipe, n_inputs: int) -> tuple[int, int]:
    """Build the circuit once with zero inputs and weights of the declared shapes, before any device runs it.

    Returns:
        The number of measurements and of output columns.

    Raises:
        InputError: the quantum function fails with the declared ``weight_shapes`` or ``n_inputs`` (the
            message quotes its error), measures something a layer cannot output, or acts on wires outside
            ``0..n_wires-1`` of a profile's device.
    """
    shapes = ", ".join(f"{k}={tuple(v)}" for k, v in recipe.weight_shapes.items()) or "none"
    inputs = torch.zeros(n_inputs, dtype=torch.float64)
    weights = {k: torch.zeros(tuple(v), dtype=torch.float64) for k, v in recipe.weight_shapes.items()}
    try:
        tape = qml.tape.make_qscript(ListOutputs(recipe.qfunc))(inputs, **weights)
    except (ValueError, IndexError, TypeError) as e:  # what templates and indexing raise for wrong shapes
        raise InputError(
            f"{recipe.name} cannot be built with weight shapes {shapes} and {n_inputs} "
            f"input(s): {type(e).__name__}: {e}. Make weight_shapes match what the quantum function "
            "indexes (for templates, e.g. qml.StronglyEntanglingLayers.shape(n_layers, n_wires))"
        ) from e
    if recipe.user_qnode is None:
        outside = [w for w in tape.wires if not (isinstance(w, int) and 0 <= w < (recipe.n_wires or 0))]
        if outside:
            raise InputError(
                f"{recipe.name} acts on wire(s) {outside} outside 0..{(recipe.n_wires or 0) - 1}; "
                "raise n_wires or fix the wires"
            )
    n_wires = recipe.n_wires or len(tape.wires)
    return len(tape.measurements), sum(output_size(m, n_wires) for m in tape.measurements)


def check_inputs(inputs: Any, name: str, n_inputs: int | None) -> None:
    """Raise :class:`InputError` unless ``inputs`` is a finite float tensor of shape ``(..., n_inputs)``."""
    if not isinstance(inputs, torch.Tensor):
        raise InputError(
            f"{name} expects a torch.Tensor, got {type(inputs).__name__}; "
            "convert with torch.as_tensor(x, dtype=torch.float32)"
        )
    if inputs.device.type == "meta":
        raise InputError(
            f"{name} got a 'meta' tensor, which has a shape but no values; a circuit needs values: give a tensor "
            "on the CPU or a GPU (model.to('cpu'))"
        )
    if not inputs.is_floating_point():
        raise InputError(
            f"{name} expects a floating-point tensor (angles in radians), got dtype "
            f"{inputs.dtype}; convert with x.float() or x.double()"
        )
    if inputs.ndim == 0 or inputs.shape[-1] != n_inputs:
        raise InputError(
            f"{name} takes {n_inputs} feature(s) per sample (one per embedded "
            f"wire), got input of shape {tuple(inputs.shape)}; reshape to (batch, "
            f"{n_inputs}) or put a Linear(..., {n_inputs}) before the layer"
        )
    if math.prod(inputs.shape[:-1]) == 0:
        raise InputError(f"{name} got an empty batch of shape {tuple(inputs.shape)}; give at least one sample")
    if not torch.isfinite(inputs).all():
        raise InputError(
            f"{name} got NaN or inf in its inputs (shape {tuple(inputs.shape)}); "
            "check the data and the layers before the circuit"
        )
