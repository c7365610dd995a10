"""QuantumLayer: shapes, gradient flow to weights and inputs with a batch, nn.Module behaviour, input errors.

These run on the exact ``default`` profile (parameter-shift) and compare with PennyLane backprop.
"""

from __future__ import annotations

import io

import pennylane as qml
import pytest
import torch

from bridge import QuantumLayer, circuits
from bridge.exceptions import InputError


def _backprop_reference(spec, inputs, weights):
    dev = qml.device("default.qubit", wires=spec.n_wires)
    qnode = qml.QNode(spec.qfunc, dev, interface="torch", diff_method="backprop")
    return torch.stack(list(qnode(inputs, weights)), dim=-1)


@pytest.mark.parametrize(
    ("spec", "batch"),
    [
        (circuits.textbook_hry(), 5),
        (circuits.angle_entangling(4, 2), 3),
        (circuits.angle_entangling(3, 1, n_outputs=1), 2),
        (circuits.zz_real_amplitudes(2, 2), 4),
    ],
)
def test_output_shapes(spec, batch):
    layer = QuantumLayer(spec, profile="default")
    assert layer(torch.rand(batch, spec.n_inputs)).shape == (batch, spec.n_outputs)
    assert layer(torch.rand(spec.n_inputs)).shape == (spec.n_outputs,)
    assert layer(torch.rand(2, batch, spec.n_inputs)).shape == (2, batch, spec.n_outputs)


def test_batched_gradients_reach_inputs_and_weights_and_match_backprop():
    """PennyLane #6078: parameter-shift on broadcast inputs that require grad must work."""
    spec = circuits.angle_entangling(4, 2)
    layer = QuantumLayer(spec, profile="default").double()
    x = torch.rand(6, 4, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    (y * torch.arange(1.0, 5.0, dtype=torch.float64)).sum().backward()

    x_ref = x.detach().clone().requires_grad_(True)
    w_ref = layer.qlayer.weights.detach().clone().requires_grad_(True)
    y_ref = _backprop_reference(spec, x_ref, w_ref)
    (y_ref * torch.arange(1.0, 5.0, dtype=torch.float64)).sum().backward()

    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(layer.qlayer.weights.grad, w_ref.grad, atol=1e-10, rtol=0)


def test_gradcheck_float64_through_a_classical_layer():
    torch.manual_seed(3)
    layer = QuantumLayer(circuits.zz_real_amplitudes(2, 1), profile="default").double()
    linear = torch.nn.Linear(3, 2).double()
    x = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(linear(t)), (x,), eps=1e-6, atol=1e-6)


def test_state_dict_round_trip():
    spec = circuits.angle_entangling(3, 2)
    a = QuantumLayer(spec, profile="default")
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = QuantumLayer(spec, profile="default")
    assert not torch.equal(a.qlayer.weights, b.qlayer.weights)
    b.load_state_dict(torch.load(buffer))
    x = torch.rand(4, 3)
    torch.testing.assert_close(a(x), b(x))
    assert list(a.state_dict()) == ["qlayer.weights"]


def test_module_conventions():
    layer = QuantumLayer(circuits.angle_entangling(2, 1), profile="default")
    assert layer.to(torch.float64).qlayer.weights.dtype == torch.float64
    assert layer(torch.rand(3, 2, dtype=torch.float64)).dtype == torch.float64
    assert not layer.eval().training and layer.train().training
    assert "circuit=angle_entangling_2q1l" in repr(layer) and "profile='default'" in repr(layer)
    assert sum(p.numel() for p in layer.parameters()) == 6


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (torch.rand(3, 5), r"takes 4 feature\(s\) per sample .* got input of shape \(3, 5\)"),
        (torch.rand(0, 4), r"empty batch"),
        (torch.tensor([[0.1, float("nan"), 0.2, 0.3]]), r"NaN or inf"),
        (torch.tensor([[0.1, float("inf"), 0.2, 0.3]]), r"NaN or inf"),
        (torch.ones(2, 4, dtype=torch.int64), r"floating-point tensor .*torch.int64"),
        ([[0.1, 0.2, 0.3, 0.4]], r"expects a torch.Tensor, got list"),
        (torch.tensor(0.5), r"takes 4 feature"),
    ],
)
def test_bad_inputs_raise_documented_errors(inputs, message):
    layer = QuantumLayer(circuits.angle_entangling(4, 1), profile="default")
    with pytest.raises(InputError, match=message):
        layer(inputs)


def test_nan_weights_are_reported():
    layer = QuantumLayer(circuits.angle_entangling(2, 1), profile="default")
    with torch.no_grad():
        layer.qlayer.weights[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="weight 'weights' .* NaN"):
        layer(torch.rand(1, 2))


def test_a_bare_function_needs_its_weight_shapes_and_wires():
    with pytest.raises(InputError, match=r"QuantumLayer\(qfunc\) needs weight_shapes=.* and n_wires"):
        QuantumLayer(lambda inputs: None, profile="default")
    with pytest.raises(InputError, match="expects a bridge.circuits.CircuitSpec, a qml.QNode or a quantum function"):
        QuantumLayer(42, profile="default")


def _with(spec, **changes):
    import dataclasses

    return dataclasses.replace(spec, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"weight_shapes": {"weights": (2, 4)}},
            r"cannot be built with weight shapes weights=\(2, 4\) and 4 input\(s\): "
            r"IndexError.*StronglyEntanglingLayers.shape",
        ),
        ({"weight_shapes": {"w": (2, 4, 3)}}, r"cannot be built with weight shapes w=\(2, 4, 3\).*unexpected keyword"),
        ({"n_outputs": 3}, r"returns 4 measurement\(s\) but its CircuitSpec says n_outputs=3"),
        ({"n_wires": 3}, r"acts on wire\(s\) \[3\] outside 0..2"),
    ],
)
def test_a_circuit_spec_that_does_not_match_its_function_is_refused_before_any_device(changes, message):
    with pytest.raises(InputError, match=message):
        QuantumLayer(_with(circuits.angle_entangling(4, 2), **changes), profile="default")


def test_a_statevector_larger_than_memory_is_refused_with_the_estimate():
    from bridge.device_factory import check_statevector_memory, statevector_bytes

    assert statevector_bytes(10) == 16 * 2 * 1024
    check_statevector_memory(10, "aer")  # 32 KiB: fine on any machine
    with pytest.raises(
        InputError,
        match=r"a 40-qubit state-vector simulation on profile 'aer' needs about "
        r"32,768.0 GiB .* only [\d,.]+ GiB of memory is available; use fewer",
    ):
        check_statevector_memory(40, "aer")
    with pytest.raises(InputError, match=r"needs about 0.0 GiB .* only 0.0 GiB"):
        check_statevector_memory(12, "default", available=1000)


def test_a_layer_too_large_for_memory_fails_before_allocating():
    spec = circuits.angle_entangling(40, 1)
    with pytest.raises(InputError, match="40-qubit state-vector simulation on profile 'aer'"):
        QuantumLayer(spec, profile="aer")
