"""The exact value of a circuit on a noisy profile: what shots on ``aer-noisy`` or a fake IBM backend average to.

A noisy profile's estimates scatter around the *noisy* expectation value, not the noise-free one: comparing them
with the noise-free truth measures the noise, not the bridge (a correct 4-layer model on ``aer-noisy`` was 5σ
off). This module computes the noisy expectation exactly, so that shot noise alone is left to the tolerance:

* the circuit is the independent translation (:mod:`bridge.verification.translate`, not the device's converter, so a
  fault in the device's circuit still shows), transpiled by the profile's pass manager (its backend, optimization
  level and transpiler seed) onto the **same physical qubits** as the device's own compiled circuit (its initial
  layout), since the noise depends on the qubits;
* the noise model is the one the backend runs: the ``NoiseModel`` of a noisy ``AerSimulator`` (``aer-noisy``), or
  the one a qiskit-ibm-runtime fake backend builds for its own ``run`` (``ibm-fake-*``, local mode);
* Aer simulates it as a density matrix (``method="density_matrix"``, no shots), and each Pauli term is read with
  the qubits' readout errors: a flip ``e0 = P(1|0)``, ``e1 = P(0|1)`` turns a measured ±1 eigenvalue ``t`` into
  ``(e1 − e0) + (1 − e0 − e1)·t`` on average, so ``⟨P_S⟩`` becomes ``Σ_{T⊆S} Π_{S∖T}(e1 − e0) Π_T(1 − e0 − e1)
  ⟨P_T⟩``. The basis change before a measurement of X or Y is taken noise-free (one ``sx``: an error near 3e-4,
  about 0.01σ at 1024 shots).

Gradients: the two-term shift rule on every angle occurrence of the translation (with the chain rule to inputs and
weights). It is exact for the noisy expectation because each angle lands, once and with coefficient ±1, in an
``rz`` gate, which IBM devices implement virtually (a frame change): their noise models attach no error to ``rz``,
so the noise channels do not depend on the angle, and the expectation stays ``a + b cos φ + c sin φ`` in each
angle. Both facts are checked on the transpiled circuit; where either fails, :class:`NotExact` says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml

from bridge.backends import DENSITY_MATRIX_WIRES, reduced_noise_model
from bridge.exceptions import BridgeError
from bridge.verification.translate import Translation

EXACT = "exact"
EXACT_NOISY = "exact noisy (density matrix)"


class NotExact(BridgeError):
    """The noisy expectation or its shift-rule gradient cannot be computed exactly here (the reason says why)."""


@dataclass(frozen=True)
class Noise:
    """Where a ``bridge.qiskit`` device's circuits run: its backend, that backend's noise model and the
    transpiler options of the device."""

    backend: Any
    model: Any
    pass_options: dict[str, Any]


def noise_of(qnode: qml.QNode) -> Noise | None:
    """The noise a QNode's device runs with, or ``None`` for a noise-free one (any device but a ``bridge.qiskit``
    device on a noisy Aer simulator or a fake IBM backend)."""
    settings = getattr(qnode.device, "settings", None)
    if qnode.device.name != "bridge.qiskit" or settings is None or settings.ideal:
        return None
    model = backend_noise_model(settings.backend)
    if model is None:
        return None
    options = {"optimization_level": settings.optimization_level, "seed_transpiler": settings.seed_transpiler}
    return Noise(settings.backend, model, options)


def backend_noise_model(backend: Any) -> Any:
    """The noise model ``backend`` simulates with: a noisy ``AerSimulator``'s own, or the one a qiskit-ibm-runtime
    fake backend builds for its ``run`` (asymmetric readout errors, unlike ``NoiseModel.from_backend``);
    ``None`` for a noise-free simulator or hardware."""
    from qiskit_aer import AerSimulator

    if isinstance(backend, AerSimulator):
        return backend.options.noise_model
    own = getattr(backend, "_get_noise_model_from_backend_v2", None)  # pinned in tests/verification
    return own() if own is not None else None


def device_layouts(qnode: qml.QNode, *args: Any, **kwargs: Any) -> dict[int, tuple[int, ...]]:
    """The physical qubit of each wire in the device's own compiled circuit, per measurement (by its hash): the
    device splits a tape by measurement basis, and each part is transpiled (and laid out) on its own."""
    from bridge.qiskit.batching import tapes_and_kinds
    from bridge.qiskit.structure import structure_key

    device = qnode.device
    tapes, _ = qml.workflow.construct_batch(qnode, level="device")(*args, **kwargs)
    layouts: dict[int, tuple[int, ...]] = {}
    for tape, kind in tapes_and_kinds(tapes, device.wires, device.settings):
        layout = device.compiler.get(structure_key(tape, kind), tape).circuit.layout
        wires = range(len(device.wires))
        physical = tuple(layout.initial_index_layout(filter_ancillas=True)) if layout is not None else tuple(wires)
        for m in tape.measurements:
            layouts.setdefault(m.hash, physical)
    return layouts


class NoisyExpectations:
    """Exact noisy expectation values of a translation's observables, and their shift-rule vector-Jacobian products.

    Args:
        translation: the circuit over its angle occurrences ``φ`` and its observables.
        noise: the backend and noise model (:func:`noise_of`).
        layouts: per observable of ``translation``, the physical qubits of the wires (:func:`device_layouts`).

    Raises:
        NotExact: more than :data:`~bridge.backends.DENSITY_MATRIX_WIRES` qubits, a noisy angle-carrying gate, or an
            angle the transpiler spread over several gates.
    """

    def __init__(self, translation: Translation, noise: Noise, layouts: Sequence[tuple[int, ...]]) -> None:
        self.n_phis = len(translation.phis)
        self.n_observables = len(translation.observables)
        self._groups = []
        for layout in dict.fromkeys(layouts):
            members = [i for i, lay in enumerate(layouts) if lay == layout]
            observables = [translation.observables[i] for i in members]
            self._groups.append((members, _Compiled(translation.circuit, observables, noise, layout)))

    def forward(self, phis: np.ndarray) -> np.ndarray:
        """``(rows, observables)`` for angle rows ``(rows, n_phis)``."""
        out = np.zeros((len(phis), self.n_observables))
        for members, compiled in self._groups:
            out[:, members] = compiled.values(phis)
        return out

    def backward(self, phis: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """``Σ_o cotangent[r, o] ∂⟨O_o⟩/∂φ_k`` per row ``(rows, n_phis)``: ``½ [f(φ + π/2 ê_k) − f(φ − π/2 ê_k)]``."""
        rows, k = phis.shape
        shifted = np.repeat(phis[:, None, :], 2 * k, axis=1)
        shifted[:, np.arange(k), np.arange(k)] += np.pi / 2
        shifted[:, k + np.arange(k), np.arange(k)] -= np.pi / 2
        f = self.forward(shifted.reshape(rows * 2 * k, k)).reshape(rows, 2 * k, -1)
        return np.einsum("rko,ro->rk", (f[:, :k] - f[:, k:]) / 2, cotangent)


class _Compiled:
    """The translation transpiled onto one layout, with its observables as readout-weighted matrices."""

    def __init__(self, circuit: Any, observables: Sequence[Any], noise: Noise, layout: tuple[int, ...]) -> None:
        from qiskit.transpiler import generate_preset_pass_manager

        options = {k: v for k, v in noise.pass_options.items() if v is not None}
        isa = generate_preset_pass_manager(backend=noise.backend, initial_layout=list(layout), **options).run(circuit)
        isa.global_phase = 0.0  # a density matrix has none
        _check_angles(isa, noise.model)
        laid_out = [o.apply_layout(isa.layout, num_qubits=isa.num_qubits) for o in observables]
        touched = {isa.find_bit(q).index for inst in isa.data for q in inst.qubits}
        support = {q for o in laid_out for label in o.paulis.to_labels() for q, c in enumerate(label[::-1]) if c != "I"}
        self.kept = sorted(touched | support)
        if len(self.kept) > DENSITY_MATRIX_WIRES:
            raise NotExact(
                f"the circuit spans {len(self.kept)} qubits of {noise.backend.name}: its density matrix is too large "
                f"(at most {DENSITY_MATRIX_WIRES})"
            )
        self.columns = [p.index for p in isa.parameters]  # the φ of each circuit parameter
        self.circuit = isa
        self.circuit.save_density_matrix(qubits=self.kept, label="rho")
        readout = [_flips(noise.model, q) for q in self.kept]
        self.matrices = np.stack([_measured(o, self.kept, readout) for o in laid_out])
        self.noise_model = reduced_noise_model(noise.model, frozenset(self.kept))

    def values(self, phis: np.ndarray) -> np.ndarray:
        from qiskit_aer import AerSimulator

        simulator = AerSimulator(method="density_matrix", noise_model=self.noise_model)
        parameters = list(self.circuit.parameters)
        if parameters:
            binds = [{p: phis[:, c].tolist() for p, c in zip(parameters, self.columns, strict=True)}]
            result = simulator.run(self.circuit, parameter_binds=binds).result()
            rhos = [np.asarray(result.data(i)["rho"]) for i in range(len(phis))]
        else:
            rhos = [np.asarray(simulator.run(self.circuit).result().data(0)["rho"])] * len(phis)
        return np.stack([np.einsum("ij,oji->o", rho, self.matrices).real for rho in rhos])


def _check_angles(isa: Any, noise_model: Any) -> None:
    """Every angle occurrence in exactly one gate, with coefficient ±1, of a kind the noise model leaves
    noise-free (IBM's virtual ``rz``): the conditions under which the shift rule is exact for the noisy value."""
    uses: dict[Any, int] = {}
    for inst in isa.data:
        op = inst.operation
        for angle in op.params:
            for phi in getattr(angle, "parameters", ()):
                uses[phi] = uses.get(phi, 0) + 1
                qubits = tuple(isa.find_bit(q).index for q in inst.qubits)
                if qubits in noise_model._local_quantum_errors.get(op.name, {}) or (
                    op.name in noise_model._default_quantum_errors
                ):
                    raise NotExact(
                        f"angle {phi} lands in a noisy {op.name} gate: its noise may depend on the angle, and the "
                        "shift rule need not hold for the noisy value"
                    )
                if abs(abs(float(angle.gradient(phi))) - 1) > 1e-12:
                    raise NotExact(f"angle {phi} enters {op.name} as {angle}: the ±π/2 shift rule does not apply")
    spread = [str(p) for p, n in uses.items() if n > 1]
    if spread:
        raise NotExact(f"the transpiler spread angles {', '.join(spread)} over several gates")


def _flips(noise_model: Any, qubit: int) -> tuple[float, float]:
    """``(e0, e1)``: the probabilities of reading 1 from 0 and 0 from 1 on ``qubit`` (0, 0 without readout error)."""
    error = noise_model._local_readout_errors.get((qubit,), noise_model._default_readout_error)
    if error is None:
        return 0.0, 0.0
    p = np.asarray(error.probabilities)
    return float(p[0, 1]), float(p[1, 0])


def _measured(observable: Any, kept: Sequence[int], readout: Sequence[tuple[float, float]]) -> np.ndarray:
    """The matrix ``M`` on the ``kept`` qubits with ``tr(ρM)`` the observable's average as read out with flips."""
    from qiskit.quantum_info import Pauli

    total = np.zeros((2 ** len(kept), 2 ** len(kept)), dtype=complex)
    for label, coeff in observable.to_list():
        letters = [label[::-1][q] for q in kept]  # kept[i] is the i-th (least significant first) qubit
        support = [i for i, c in enumerate(letters) if c != "I"]
        for size in range(len(support) + 1):
            for subset in itertools.combinations(support, size):
                weight = np.prod([_mixing(readout[i], i in subset) for i in support])
                if weight:
                    word = "".join(letters[i] if i in subset else "I" for i in range(len(kept)))
                    total += coeff * weight * Pauli(word[::-1]).to_matrix()
    return total


def _mixing(flips: tuple[float, float], kept: bool) -> float:
    e0, e1 = flips
    return 1 - e0 - e1 if kept else e1 - e0
