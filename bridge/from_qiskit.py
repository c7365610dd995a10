"""A Qiskit circuit with ``ParameterVector`` inputs and weights as a PennyLane quantum function.

``qml.from_qiskit`` converts the gates, but binds parameter values through Qiskit, which cannot take torch
tensors into a parameter expression (``2·(π − x₀)(π − x₁)``). :class:`QiskitFunction` therefore gives every gate
angle its own plain parameter ``θ[k]``, evaluates the expressions itself (sympy → torch, so gradients flow through
them), and hands PennyLane a circuit of plain parameters. ``bridge.verify`` checks the result against the
original circuit run by ``bridge.reference``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterExpression, ParameterVector
from qiskit.quantum_info import SparsePauliOp

from bridge.exceptions import InputError
from bridge.expressions import to_sympy

_TORCH_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "sqrt", "arcsin", "arccos", "arctan"}


def _torch_module() -> dict[str, Any]:
    import torch

    return {
        name: getattr(torch, {"arcsin": "asin", "arccos": "acos", "arctan": "atan"}.get(name, name))
        for name in _TORCH_FUNCTIONS
    } | {"pi": math.pi, "E": math.e, "I": 1j}


class QiskitFunction:
    """``qfunc(inputs, weights)``: the circuit with ``inputs[..., i]`` for ``inputs[i]`` and ``weights[j]`` for
    ``weights[j]``, measuring ``⟨O_m⟩`` of each observable (Qiskit qubit ``i`` is wire ``i``).

    Raises:
        InputError: the circuit has parameters that are neither inputs nor weights.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        inputs: Sequence[Parameter],
        weights: Sequence[Parameter],
        observables: Sequence[SparsePauliOp],
    ) -> None:
        self.circuit, self.inputs, self.weights = circuit, list(inputs), list(weights)
        self.observables = list(observables)
        known = set(self.inputs) | set(self.weights)
        unknown = sorted(p.name for p in circuit.parameters if p not in known)
        if unknown:
            raise InputError(
                f"circuit parameters {unknown} are neither inputs nor weights; list every parameter in "
                "inputs= or weights="
            )
        plain, self._angles = _plain_angles(circuit, [*self.inputs, *self.weights])
        self._operations = _converted(plain, len(self._angles))
        # from_qiskit_op gives complex coefficients (every expectation value would be complex): a Hermitian
        # observable's are real, so its Pauli sentence is rebuilt with their real parts
        self._measured = [_real(qml.from_qiskit_op(op)) for op in self.observables]
        self.__name__ = circuit.name or "qiskit_circuit"

    def __call__(self, inputs: Any, weights: Any) -> list[Any]:
        values = [inputs[..., i] for i in range(len(self.inputs))] + [weights[j] for j in range(len(self.weights))]
        theta = [angle(*values) for angle in self._angles]
        for op, slots in self._operations:
            if any(k is not None for k in slots):
                _, structure = qml.pytrees.flatten(op)
                data = [d if k is None else theta[k] for d, k in zip(op.data, slots, strict=True)]
                with qml.QueuingManager.stop_recording():  # built here, queued once by qml.apply
                    op = qml.pytrees.unflatten(data, structure)
            qml.apply(op)
        return [qml.expval(obs) for obs in self._measured]

    def __getstate__(self) -> dict[str, Any]:  # the compiled expressions are rebuilt on load
        return {
            "circuit": self.circuit,
            "inputs": self.inputs,
            "weights": self.weights,
            "observables": self.observables,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


def _real(observable: Any) -> Any:
    from pennylane.pauli import PauliSentence

    sentence = PauliSentence({word: float(np.real(c)) for word, c in observable.pauli_rep.items()})
    return sentence.operation(wire_order=observable.wires)


MARKER = 1000.0  # θ[k] is converted with the value MARKER + k, to find where it lands among the gates' data


def _converted(plain: QuantumCircuit, n_theta: int) -> list[tuple[Any, list[int | None]]]:
    """``qml.from_qiskit``'s operations for the plain circuit, and for each datum of each, the ``θ`` it holds.

    The conversion runs once, with trainable marker values (values PennyLane keeps unbound); each call replays the
    operations with the angles of that call.

    Raises:
        InputError: a converted gate changed a marker (scaled or shifted an angle): not replayable.
    """
    import torch

    markers = torch.arange(n_theta, dtype=torch.float64).add(MARKER).requires_grad_(True)  # the vector θ
    converter = qml.from_qiskit(plain)
    tape = qml.tape.make_qscript(converter)(markers) if n_theta else qml.tape.make_qscript(converter)()
    operations = []
    for op in tape.operations:
        slots: list[int | None] = []
        for datum in op.data:
            if isinstance(datum, torch.Tensor) and datum.requires_grad:
                k = round(float(datum.detach()) - MARKER)
                if not 0 <= k < n_theta or float(datum.detach()) != MARKER + k:
                    raise InputError(
                        f"qml.from_qiskit turned an angle of {op.name} into an expression; this gate "
                        "cannot be converted with trainable angles"
                    )
                slots.append(k)
            else:
                slots.append(None)
        operations.append((op, slots))
    return operations


def _plain_angles(
    circuit: QuantumCircuit, parameters: Sequence[Parameter]
) -> tuple[QuantumCircuit, list[Callable[..., Any]]]:
    """The circuit with each parametric gate angle replaced by ``θ[k]``, and per ``θ[k]`` a function of the values of
    ``parameters`` (in that order) computing it."""
    import sympy

    symbols = [sympy.Symbol(f"p{n}") for n in range(len(parameters))]
    names = {p.name: s for p, s in zip(parameters, symbols, strict=True)}
    module = [_torch_module(), "math"]
    theta_count = sum(
        1 for inst in circuit.data for p in inst.operation.params if isinstance(p, ParameterExpression) and p.parameters
    )
    theta = ParameterVector("θ", theta_count)
    plain = circuit.copy_empty_like()
    angles: list[Callable[..., Any]] = []
    for inst in circuit.data:
        params = list(inst.operation.params)
        for j, p in enumerate(params):
            if isinstance(p, ParameterExpression) and p.parameters:
                formula = to_sympy(p).subs({sympy.Symbol(q.name): names[q.name] for q in p.parameters})
                angles.append(sympy.lambdify(symbols, formula, modules=module))
                params[j] = theta[len(angles) - 1]
        if params != list(inst.operation.params):
            op = inst.operation.to_mutable()
            op.params = params
        else:
            op = inst.operation
        plain.append(op, inst.qubits, inst.clbits)
    plain.global_phase = 0.0  # no measured quantity depends on it
    return plain, angles
