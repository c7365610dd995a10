"""A Qiskit circuit with ``ParameterVector`` inputs and weights as a PennyLane quantum function.

``qml.from_qiskit`` converts the gates, but binds parameter values through Qiskit, which cannot take torch
tensors into a parameter expression (``2·(π − x₀)(π − x₁)``). :class:`QiskitFunction` therefore gives every gate
angle its own plain parameter ``θ[k]``, evaluates the expressions itself (sympy → torch, so gradients flow through
them), and hands PennyLane a circuit of plain parameters. ``bridge.verification.library`` checks the result against the
original circuit run by ``bridge.reference``.

The converter translates only the instructions of its gate map one to one; anything else it turns into a
``QubitUnitary`` if it has a matrix, or drops with a warning ("not added to the template"): Qiskit's circuit-library
classes (``ZZFeatureMap``, ``RealAmplitudes``, …) are one composite ``Gate`` each, and were dropped. So the circuit is
first expanded (:func:`_expanded`): every instruction outside that map is replaced by its own definition, recursively,
until only translated instructions remain; one without a definition (nor a fixed matrix) is an :class:`InputError`
naming it, and the converter's warning, should it still come, is one too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
from pennylane_qiskit.converter import QISKIT_OPERATION_MAP, dagger_map
from qiskit import QuantumCircuit
from qiskit.circuit import ControlFlowOp, Instruction, Measure, Parameter, ParameterExpression, ParameterVector
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import SparsePauliOp

from bridge.exceptions import InputError
from bridge.expressions import to_sympy

# Qiskit classes the converter translates gate for gate (its own lookup is by class name; it reads UGate as U3Gate)
ONE_TO_ONE = frozenset(cls.__name__ for cls in QISKIT_OPERATION_MAP.values()) | frozenset(dagger_map) | {"UGate"}
MAX_DEPTH = 32  # nesting levels of definitions expanded before giving up (Qiskit's library nests 2 or 3)
_DROPPED = "has not been added to the template"  # pennylane-qiskit's warning for an instruction it drops
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
        InputError: the circuit has parameters that are neither inputs nor weights, or an instruction that neither
            pennylane-qiskit translates nor decomposes into gates it translates (named).
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
        plain, self._angles = _plain_angles(_expanded(circuit), [*self.inputs, *self.weights])
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
        InputError: a converted gate changed a marker (scaled or shifted an angle): not replayable; or the converter
            dropped an instruction (its warning, made an error).
    """
    import torch

    markers = torch.arange(n_theta, dtype=torch.float64).add(MARKER).requires_grad_(True)  # the vector θ
    converter = qml.from_qiskit(plain)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=f".*{_DROPPED}", category=UserWarning)
        try:
            tape = qml.tape.make_qscript(converter)(markers) if n_theta else qml.tape.make_qscript(converter)()
        except UserWarning as dropped:
            untranslated = sorted({i.operation.name for i in plain.data if not _translated(i.operation)})
            raise InputError(
                f"qml.from_qiskit would drop a gate ({dropped}); untranslated instructions: {untranslated}"
            ) from dropped
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


def _expanded(circuit: QuantumCircuit, depth: int = 0) -> QuantumCircuit:
    """``circuit`` with every instruction the converter does not translate (:func:`_translated`) replaced by its
    definition, recursively: composite gates of Qiskit's circuit library, BlueprintCircuits, gates built from
    sub-circuits. Each is expanded by its own ``definition`` (what Qiskit's Statevector and Aer simulate), its
    parameter expressions kept as they are; instructions the converter translates are left alone (no transpiler
    pass, no basis translation, no matching of instructions by name).

    Raises:
        InputError: an instruction with neither a translation, a definition nor (parameter-free) a matrix.
    """
    if all(_translated(inst.operation) for inst in circuit.data):
        return circuit
    if depth >= MAX_DEPTH:
        raise InputError(f"definitions nested deeper than {MAX_DEPTH} levels in {circuit.name!r}; cannot expand")
    out = circuit.copy_empty_like()
    for inst in circuit.data:
        op = inst.operation
        if _translated(op):
            out.append(op, inst.qubits, inst.clbits, copy=False)
            continue
        definition = _definition(op)
        if definition is None:
            qubits = [circuit.find_bit(q).index for q in inst.qubits]
            raise InputError(
                f"instruction {op.name!r} ({type(op).__name__} on qubits {qubits}) has no definition and "
                "pennylane-qiskit cannot translate it; give it a definition (a sub-circuit) or use standard gates"
            )
        out.compose(_expanded(definition, depth + 1), inst.qubits, inst.clbits, inplace=True)
    return out


def _translated(op: Instruction) -> bool:
    """Whether pennylane-qiskit's converter translates ``op`` without a warning: a gate of its map, a measurement or
    control flow (converted as such), or an opaque parameter-free gate with a matrix (a ``QubitUnitary``)."""
    if isinstance(op, Measure | ControlFlowOp) or getattr(op, "base_class", type(op)).__name__ in ONE_TO_ONE:
        return True
    if _definition(op) is not None or op.is_parameterized():
        return False
    try:
        op.to_matrix()
    except (AttributeError, QiskitError):
        return False
    return True


def _definition(op: Instruction) -> QuantumCircuit | None:
    try:
        return op.definition
    except (QiskitError, TypeError, ValueError):  # a definition that cannot be built (e.g. synthesis failing)
        return None


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
