"""Expectation values of a parameterized Qiskit circuit and their parameter-shift gradients.

The circuit takes two ``ParameterVector``s, inputs ``x`` and weights ``w``. It is first transpiled to
the basis ``rx, ry, rz, cx`` (plus parameter-free gates), so that every parameterized gate is a Pauli
rotation ``R(φ_k) = exp(−i φ_k P / 2)`` whose angle ``φ_k = e_k(x, w)`` is an expression of the
parameters (a parameter used twice is two occurrences; ``2(π − x₀)(π − x₁)`` is one occurrence with a
product rule). Each occurrence gets its own circuit parameter, and

    ∂⟨O⟩/∂p = Σ_k ∂e_k/∂p · (⟨O⟩(φ + π/2 ê_k) − ⟨O⟩(φ − π/2 ê_k)) / 2,

the two-term rule, exact for Pauli rotations (generator eigenvalues ±½). All rows — a batch of forward
evaluations, or every shifted evaluation of a backward pass — go to Aer's ``EstimatorV2`` as one PUB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ParameterExpression, ParameterVector
from qiskit.quantum_info import SparsePauliOp
from torch import nn

from bridge.expressions import to_sympy

PAULI_ROTATIONS = ("rx", "ry", "rz")
BASIS = ["rx", "ry", "rz", "cx", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "sxdg", "id", "swap"]


@dataclass(frozen=True)
class _Occurrence:
    """One parameterized Pauli rotation of the transpiled circuit: its angle and the angle's derivatives."""

    angle: Callable[..., Any]  # numpy function of (x, w) arrays -> angle per row
    derivatives: dict[int, Callable[..., Any]]  # column in [x..., w...] -> numpy function of (x, w) -> ∂angle/∂param


class ReferenceQNN:
    """A batched estimator network over a Qiskit circuit, differentiated by the parameter-shift rule.

    Args:
        circuit: a circuit whose parameters are the elements of ``inputs`` and ``weights``.
        inputs: the input ``ParameterVector`` (size ``n_inputs``).
        weights: the weight ``ParameterVector`` (size ``n_weights``).
        observables: what is measured, as ``SparsePauliOp`` on the circuit's qubits (Qiskit order).
        shots: ``None`` for exact expectation values, else Aer's estimator precision ``1/√shots``.
        seed: seed of the estimator's sampling noise.

    Raises:
        ValueError: the circuit has parameters that are neither inputs nor weights, or a gate whose
            angle cannot be differentiated by the two-term rule even after transpiling to Pauli rotations.

    Example:
        >>> from qiskit.circuit import ParameterVector
        >>> x, w = ParameterVector("x", 1), ParameterVector("w", 1)
        >>> qc = QuantumCircuit(1)
        >>> _ = qc.h(0), qc.ry(x[0] + w[0], 0)
        >>> qnn = ReferenceQNN(qc, x, w, [SparsePauliOp("Z")])
        >>> qnn.forward(np.array([[0.3]]), np.array([0.2])).round(6)
        array([[-0.479426]])
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        inputs: ParameterVector,
        weights: ParameterVector,
        observables: Sequence[SparsePauliOp],
        *,
        shots: int | None = None,
        seed: int | None = None,
    ) -> None:
        known = set(inputs) | set(weights)
        unknown = [p.name for p in circuit.parameters if p not in known]
        if unknown:
            raise ValueError(f"circuit parameters {unknown} are neither inputs nor weights")
        self.n_inputs, self.n_weights = len(inputs), len(weights)
        self.observables = list(observables)
        self.shots = shots
        self._columns = {p: i for i, p in enumerate([*inputs, *weights])}
        self._symbols = [sympy.Symbol(f"p{i}") for i in range(len(self._columns))]
        self.circuit, self._occurrences = self._split_occurrences(circuit)
        from qiskit_aer.primitives import EstimatorV2

        options: dict[str, dict[str, Any]] = {"backend_options": {"method": "statevector"}}
        if seed is not None:
            options["run_options"] = {"seed_simulator": seed}
        self._estimator = EstimatorV2(options=options)
        self.jobs = 0

    # -------------------------------------------------------------- construction
    def _split_occurrences(self, circuit: QuantumCircuit) -> tuple[QuantumCircuit, list[_Occurrence]]:
        basis = transpile(circuit, basis_gates=BASIS, optimization_level=0)
        phis = ParameterVector("φ", sum(1 for inst in basis.data if _is_parameterized(inst.operation)))
        rebuilt = basis.copy_empty_like()
        rebuilt.global_phase = 0.0  # a global phase changes no expectation value (and may hold the inputs' names)
        occurrences: list[_Occurrence] = []
        for inst in basis.data:
            op = inst.operation
            if not _is_parameterized(op):
                rebuilt.append(op, inst.qubits, inst.clbits)
                continue
            if op.name not in PAULI_ROTATIONS:
                raise ValueError(
                    f"gate {op.name!r} with a parameterized angle is not a Pauli rotation after "
                    "transpiling; the two-term parameter-shift rule does not apply to it"
                )
            phi = phis[len(occurrences)]
            rebuilt.append(type(op)(phi), inst.qubits)
            occurrences.append(self._occurrence(op.params[0]))
        return rebuilt, occurrences

    def _occurrence(self, angle: ParameterExpression) -> _Occurrence:
        substitutions = {sympy.Symbol(p.name): self._symbols[self._columns[p]] for p in angle.parameters}
        expression = to_sympy(angle).subs(substitutions, simultaneous=True)
        used = [self._symbols.index(s) for s in expression.free_symbols]
        derivatives = {
            c: sympy.lambdify(self._symbols, sympy.diff(expression, self._symbols[c]), "numpy") for c in used
        }
        return _Occurrence(sympy.lambdify(self._symbols, expression, "numpy"), derivatives)

    # -------------------------------------------------------------- evaluation
    def _angles(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Occurrence angles φ, shape ``(batch, n_occurrences)``."""
        args = self._arguments(x, w)
        return np.stack(
            [np.broadcast_to(np.asarray(o.angle(*args), dtype=np.float64), (len(x),)) for o in self._occurrences],
            axis=1,
        )

    def _arguments(self, x: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        return [x[:, i] for i in range(self.n_inputs)] + [np.full(len(x), v) for v in w]

    def _estimate(self, angles: np.ndarray) -> np.ndarray:
        """⟨O_m⟩ for every row of angles: ``(rows, n_observables)``, one primitive job."""
        pub = (self.circuit, [self.observables], angles[:, None, :])
        precision = 0.0 if self.shots is None else 1 / np.sqrt(self.shots)
        self.jobs += 1
        return np.asarray(self._estimator.run([pub], precision=precision).result()[0].data.evs)

    def forward(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Expectation values ``(batch, n_observables)`` for inputs ``(batch, n_inputs)`` and weights."""
        x, w = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(w, dtype=float).reshape(-1)
        return self._estimate(self._angles(x, w))

    def chain_factors(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``∂φ_k/∂p`` for every row, occurrence and parameter: ``(batch, n_occurrences, n_inputs + n_weights)``."""
        x, w = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(w, dtype=float).reshape(-1)
        args = self._arguments(x, w)
        out = np.zeros((len(x), len(self._occurrences), self.n_inputs + self.n_weights))
        for k, occurrence in enumerate(self._occurrences):
            for column, derivative in occurrence.derivatives.items():
                out[:, k, column] = np.broadcast_to(np.asarray(derivative(*args), np.float64), (len(x),))
        return out

    def backward(self, x: np.ndarray, w: np.ndarray, cotangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vector-Jacobian products: ``(batch, n_inputs)`` for the inputs and ``(n_weights,)`` for the weights.

        Args:
            x: inputs ``(batch, n_inputs)``.
            w: weights ``(n_weights,)``.
            cotangent: ``∂loss/∂outputs``, shape ``(batch, n_observables)``.
        """
        x, w = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(w, dtype=float).reshape(-1)
        batch, n_occ = len(x), len(self._occurrences)
        angles = self._angles(x, w)
        shifted = np.repeat(angles[None], 2 * n_occ, axis=0)  # (2K, batch, K)
        for k in range(n_occ):
            shifted[2 * k, :, k] += np.pi / 2
            shifted[2 * k + 1, :, k] -= np.pi / 2
        values = self._estimate(shifted.reshape(-1, n_occ)).reshape(2 * n_occ, batch, -1)
        d_phi = (values[0::2] - values[1::2]) / 2  # ∂⟨O⟩/∂φ_k: (K, batch, M)
        d_phi_loss = np.einsum("kbm,bm->bk", d_phi, cotangent)  # ∂loss/∂φ_k per row
        grads = np.einsum("bk,bkp->bp", d_phi_loss, self.chain_factors(x, w))  # chain rule through φ_k(x, w)
        return grads[:, : self.n_inputs], grads[:, self.n_inputs :].sum(axis=0)


def _is_parameterized(op: object) -> bool:
    return any(isinstance(p, ParameterExpression) and p.parameters for p in getattr(op, "params", []))


class ReferenceFunction(torch.autograd.Function):
    """``(inputs (batch, n_inputs), weights (n_weights,)) → (batch, n_observables)`` through a ReferenceQNN."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weights: torch.Tensor, qnn: ReferenceQNN) -> torch.Tensor:
        ctx.qnn = qnn
        ctx.save_for_backward(inputs, weights)
        values = qnn.forward(inputs.detach().cpu().numpy(), weights.detach().cpu().numpy())
        return torch.as_tensor(values, dtype=inputs.dtype, device=inputs.device)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        inputs, weights = ctx.saved_tensors
        gx, gw = ctx.qnn.backward(
            inputs.detach().cpu().numpy(), weights.detach().cpu().numpy(), grad_output.detach().cpu().numpy()
        )
        return (
            torch.as_tensor(gx, dtype=inputs.dtype, device=inputs.device),
            torch.as_tensor(gw, dtype=weights.dtype, device=weights.device),
            None,
        )


class ReferenceLayer(nn.Module):
    """A ``ReferenceQNN`` as a layer with trainable ``weights`` (initialized uniformly in [0, 2π)).

    Shapes: input ``(batch, n_inputs)`` or ``(n_inputs,)``; output ``(batch, n_observables)`` or
    ``(n_observables,)``.
    """

    def __init__(self, qnn: ReferenceQNN, weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.qnn = qnn
        init = weights if weights is not None else torch.rand(qnn.n_weights) * 2 * np.pi
        self.weights = nn.Parameter(torch.as_tensor(init, dtype=torch.float32).reshape(qnn.n_weights).clone())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat = inputs.reshape(-1, self.qnn.n_inputs)
        out = ReferenceFunction.apply(flat, self.weights.to(flat.dtype), self.qnn)
        return out.reshape(*inputs.shape[:-1], len(self.qnn.observables))
