"""The engines verification compares: each maps inputs ``x (batch, n_inputs)``, flat weights ``w`` and a cotangent
``v (batch, M)`` to the outputs, ``v·∂y/∂x`` and ``v·∂y/∂w`` (:data:`~bridge.verification.rows.Outputs`).

* the **truth**: the model's quantum function on ``default.qubit`` with backprop (float64), by torch autograd;
* the bridge's path: the same quantum function through any QNode (a profile's, or the model's own);
* the **reference**: ``bridge.reference`` on the model's original Qiskit circuit (a ``from_qiskit`` layer, the
  library's models) or on the independent translation (:mod:`bridge.verification.translate`);
* **finite differences** of the truth, and **qiskit-ml**'s ``EstimatorQNN`` + ``TorchConnector``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch

from bridge.exceptions import InputError
from bridge.layers.qnodes import ListOutputs
from bridge.verification.angle_chain import through_angles
from bridge.verification.model import Model, model_tape
from bridge.verification.rows import Engine, Outputs
from bridge.verification.translate import translate

FD_STEP = 1e-6
Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # inputs (B, n_in), flat weights → outputs (B, M)


def model_forward(model: Model, qnode: qml.QNode) -> Forward:
    """A torch-interface QNode of ``model`` as ``(inputs (B, n_inputs), flat weights) → outputs (B, M)`` (float64;
    several measurements side by side, each flattened)."""

    def forward(xt: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        parts = [torch.as_tensor(p) for p in qnode(xt, **model.unflatten(wt))]
        # an output that depends on no parameter (var(Z) after H·RZ is 1) comes back unbatched: one per row
        parts = [p.reshape(()).expand(len(xt)) if p.numel() == 1 < len(xt) else p for p in parts]
        return torch.cat([p.reshape(len(xt), -1) for p in parts], dim=-1).real.to(torch.float64)

    return forward


def truth_forward(model: Model) -> Forward:
    """The ground truth: ``default.qubit`` with backprop (float64)."""
    dev = qml.device("default.qubit", wires=model.n_wires)
    return model_forward(model, qml.QNode(ListOutputs(model.qfunc), dev, interface="torch", diff_method="backprop"))


def reference_engine(model: Model, x: np.ndarray, w: np.ndarray) -> Engine:
    """``bridge.reference`` on the original Qiskit circuit (``from_qiskit`` layers) or on the independent translation.

    Raises:
        Untranslatable: the translation does not cover a gate or measurement of the model.
    """
    from qiskit.circuit import ParameterVector

    from bridge.reference import ReferenceQNN

    if model.qiskit is not None:
        q = model.qiskit
        return qnn_engine(ReferenceQNN(q.circuit, q.inputs, q.weights, q.observables))
    translation = translate(model_tape(model, torch.tensor(x[0]), torch.tensor(w)), model.n_wires)
    qnn = ReferenceQNN(translation.circuit, translation.phis, ParameterVector("none", 0), list(translation.observables))
    none = np.zeros(0)
    return through_angles(
        model, translation.squares, lambda phis: qnn.forward(phis, none), lambda p, c: qnn.backward(p, none, c)[0]
    )


def qnn_engine(qnn: Any) -> Engine:
    """A :class:`~bridge.reference.ReferenceQNN` as an engine: its values and its hand-written shift rule's
    vector-Jacobian products ``(y, v·∂y/∂x, v·∂y/∂w)``."""
    return lambda x, w, v: (qnn.forward(x, w), *qnn.backward(x, w, v))


def qiskit_ml_engine(model: Model, x: np.ndarray, w: np.ndarray) -> Engine:
    """qiskit-machine-learning's ``EstimatorQNN`` + ``TorchConnector`` (Qiskit's exact ``StatevectorEstimator``, its
    own parameter-shift gradient) on the model's Qiskit circuit: a ``from_qiskit`` layer's original one, otherwise
    the independent translation (inputs: the angle occurrences, with the chain rule of :func:`reference_engine`).

    Raises:
        InputError: qiskit-machine-learning is not installed (the ``verify`` extra).
        Untranslatable: the translation does not cover a gate or measurement of the model.
    """
    try:
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
        from qiskit_machine_learning.neural_networks import EstimatorQNN
    except ImportError as e:
        raise InputError(
            f"--against qiskit-ml needs qiskit-machine-learning ({e}); install it with pip install 'qml-bridge[verify]'"
        ) from e
    # Qiskit's own exact estimator, not Aer's: Aer 0.17 ignores the bound angle of a parametric crx/cry/crz/cp
    # (pinned in tests/qiskit/test_pins.py), and an outside check should not share the device's simulator anyway
    from qiskit.primitives import StatevectorEstimator

    def connector(circuit: Any, inputs: Sequence[Any], params: Sequence[Any], observables: Sequence[Any]) -> Any:
        estimator = StatevectorEstimator()
        qnn = EstimatorQNN(
            circuit=circuit,
            observables=list(observables),
            input_params=list(inputs),
            weight_params=list(params),
            estimator=estimator,
            gradient=ParamShiftEstimatorGradient(estimator),
            default_precision=0.0,  # exact (its default, 1/64, samples the forward pass)
            input_gradients=True,
        )
        return lambda weights: TorchConnector(qnn, initial_weights=weights).double()

    def autograd(layer: Any, inputs: np.ndarray, v: np.ndarray) -> Outputs:
        xt = torch.tensor(inputs, dtype=torch.float64, requires_grad=True)
        y = layer(xt)
        trainable = [xt, layer.weight] if layer.weight.numel() else [xt]
        grads = torch.autograd.grad((y * torch.tensor(v)).sum(), trainable)
        gw = grads[1] if len(grads) == 2 else torch.zeros(0)
        return y.detach().numpy(), grads[0].numpy(), gw.numpy()

    if model.qiskit is not None:
        q = model.qiskit
        make = connector(q.circuit, q.inputs, q.weights, q.observables)
        return lambda xx, ww, v: autograd(make(ww), xx, v)
    translation = translate(model_tape(model, torch.tensor(x[0]), torch.tensor(w)), model.n_wires)
    layer = connector(translation.circuit, translation.phis, (), translation.observables)(np.zeros(0))
    return through_angles(
        model,
        translation.squares,
        lambda phis: layer(torch.tensor(phis, dtype=torch.float64)).detach().numpy(),
        lambda phis, c: autograd(layer, phis, c)[1],
    )


def autograd_engine(forward: Forward) -> Engine:
    """Values of ``forward`` and their vector-Jacobian products by torch autograd (float64)."""

    def run(x: np.ndarray, w: np.ndarray, v: np.ndarray) -> Outputs:
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        return autograd_outputs(forward(xt, wt), v, xt, wt)

    return run


def values_of(forward: Forward) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``forward``'s values alone, without autograd's graph (what finite differences evaluate, many times)."""

    def values(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return forward(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)).numpy()

    return values


def autograd_outputs(y: torch.Tensor, v: np.ndarray, xt: torch.Tensor, wt: torch.Tensor) -> Outputs:
    """``y`` ``(batch, outputs)`` and, by autograd, the vector-Jacobian products ``v·∂y/∂x`` ``(batch, inputs)``
    and ``v·∂y/∂w`` ``(weights,)`` (zeros where ``y`` does not depend on them), as float64 NumPy arrays."""
    gx, gw = torch.autograd.grad((y * torch.tensor(v)).sum(), (xt, wt), allow_unused=True)
    return (
        y.detach().numpy(),
        np.zeros(tuple(xt.shape)) if gx is None else gx.numpy(),
        np.zeros(tuple(wt.shape)) if gw is None else gw.numpy(),
    )


def finite_difference_engine(truth: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Engine:
    """Central differences of the truth's values ``truth(x, w) → (batch, M)`` (float64, step :data:`FD_STEP`): one
    input of every row at once (a row's outputs depend on its own inputs only), one weight at a time."""

    def run(x: np.ndarray, w: np.ndarray, v: np.ndarray) -> Outputs:
        def losses(xx: np.ndarray, ww: np.ndarray) -> np.ndarray:  # per row: rows are independent samples
            return (truth(xx, ww) * v).sum(axis=1)

        def loss(xx: np.ndarray, ww: np.ndarray) -> float:
            return float(losses(xx, ww).sum())

        gx, gw = np.zeros_like(x), np.zeros_like(w)
        for i in range(x.shape[1]):  # one input of every row at once
            plus, minus = x.copy(), x.copy()
            plus[:, i] += FD_STEP
            minus[:, i] -= FD_STEP
            gx[:, i] = (losses(plus, w) - losses(minus, w)) / (2 * FD_STEP)
        for k in range(len(w)):
            plus, minus = w.copy(), w.copy()
            plus[k] += FD_STEP
            minus[k] -= FD_STEP
            gw[k] = (loss(x, plus) - loss(x, minus)) / (2 * FD_STEP)
        return truth(x, w), gx, gw

    return run
