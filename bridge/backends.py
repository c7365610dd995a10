"""Qiskit backends a profile names: the ideal Aer simulator, Aer with a fake IBM device's noise, a fake IBM
device (run by qiskit-ibm-runtime's local mode), or an IBM Quantum backend; and a dry run's stand-in.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from bridge.exceptions import ProfileError
from bridge.profiles import Profile


def fake_backend(name: str) -> Any:
    """Instantiate a backend of ``qiskit_ibm_runtime.fake_provider``.

    Args:
        name: a class name (``"FakeManilaV2"``, ``"FakeBrisbane"``), IBM's name (``"fake_manila"``) or the
            device's name alone (``"manila"``).

    Raises:
        ProfileError: no such fake backend (the message lists those that exist).
    """
    classes = fake_backend_classes()
    stem = name.removeprefix("fake_").removeprefix("Fake").removesuffix("V2").replace("_", "").lower()
    by_stem = {n.removeprefix("Fake").removesuffix("V2").lower(): cls for n, cls in classes.items()}
    chosen = classes.get(name) or by_stem.get(stem)
    if chosen is not None:
        return chosen()
    raise ProfileError(
        f"unknown fake IBM backend {name!r}; choose one of qiskit_ibm_runtime.fake_provider's "
        f"backends (by class or device name, e.g. FakeManilaV2 or manila): {', '.join(sorted(classes))}"
    )


@functools.cache
def fake_backend_classes() -> dict[str, type]:
    """The classes of the fake IBM devices ``FakeProviderForBackendV2`` lists, by class name (listed once per
    process: it loads every device's description, about 0.6 s)."""
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():  # some fake devices warn that their real twins are retired
        warnings.simplefilter("ignore")
        return {type(b).__name__: type(b) for b in FakeProviderForBackendV2().backends()}


DENSITY_MATRIX_WIRES = 10


def noisy_simulator(fake_name: str, wires: int) -> Any:
    """``AerSimulator`` with the noise model, basis gates and coupling map of a fake IBM backend; its method the
    density matrix for up to :data:`DENSITY_MATRIX_WIRES` wires, Aer's choice (trajectories) beyond.

    Raises:
        ProfileError: unknown fake backend, or more ``wires`` than it has qubits.
    """
    from qiskit_aer import AerSimulator

    fake = fake_backend(fake_name)
    if wires > fake.num_qubits:
        raise ProfileError(
            f"{wires} wires do not fit on {fake_name} ({fake.num_qubits} qubits); "
            "pick a larger fake backend for noise_backend"
        )
    # A density matrix of up to 10 qubits (Aer drops the idle ones) is simulated once per circuit, all shots sampled
    # from it; the statevector method would re-simulate every shot as a noise trajectory.
    method = "density_matrix" if wires <= DENSITY_MATRIX_WIRES else "automatic"
    return AerSimulator.from_backend(fake, method=method)


def reduced_noise_model(noise_model: Any, qubits: frozenset[int]) -> Any:
    """The errors of ``noise_model`` that act only on ``qubits``: the same outcomes for a circuit whose gates and
    measurements touch no other qubit, at a fraction of Aer's per-run cost (it serializes and parses the whole
    model for every run: about 65 ms for Manila's, 3 ms reduced to one qubit, measured).

    Reads the model's error tables (``NoiseModel._local_quantum_errors`` and ``_local_readout_errors``; pinned by
    ``tests/qiskit/test_pins.py``) and rebuilds it with the public ``add_quantum_error``/``add_readout_error``.
    """
    from qiskit_aer.noise import NoiseModel

    reduced = NoiseModel(basis_gates=noise_model.basis_gates)
    for instruction, by_qubits in noise_model._local_quantum_errors.items():
        for gate_qubits, error in by_qubits.items():
            if set(gate_qubits) <= qubits:
                reduced.add_quantum_error(error, instruction, gate_qubits, warnings=False)
    for gate_qubits, error in noise_model._local_readout_errors.items():
        if set(gate_qubits) <= qubits:
            reduced.add_readout_error(error, gate_qubits, warnings=False)
    return reduced


def qiskit_backend(prof: Profile, wires: int) -> Any:
    """The Qiskit backend a ``qiskit.remote`` or ``bridge.qiskit`` profile runs on.

    ``[qiskit] noise_backend``: Aer with that fake IBM backend's noise; ``[qiskit] backend = "fake"``: the
    fake backend itself (run by qiskit-ibm-runtime's local mode); ``[qiskit] backend = "ibm"`` (or
    ``qiskit.remote`` without a noise source): an IBM Quantum backend; otherwise the ideal Aer simulator.
    """
    from qiskit_aer import AerSimulator

    if prof.dry_run and prof.needs_ibm_account:
        return dry_run_stand_in(prof, wires)
    if prof.qiskit.noise_backend:
        return noisy_simulator(prof.qiskit.noise_backend, wires)
    if prof.qiskit.backend == "fake":
        return fake_backend(prof.ibm.backend)
    if prof.device == "qiskit.remote" or prof.qiskit.backend == "ibm":
        from bridge.ibm import ibm_backend

        return ibm_backend(prof.ibm, wires)
    if prof.qiskit.device == "GPU":
        check_aer_gpu(prof.name)
    return AerSimulator(method=prof.qiskit.method, device=prof.qiskit.device)


def check_aer_gpu(profile_name: str) -> None:
    """Refuse a GPU Aer profile on a machine whose Aer cannot simulate on a GPU.

    Raises:
        ProfileError: naming what Aer offers here and the CPU profile to use instead.
    """
    from qiskit_aer import AerSimulator

    offered = AerSimulator().available_devices()
    if "GPU" not in offered:
        raise ProfileError(
            f"profile {profile_name!r} simulates on a GPU, but this machine's Qiskit Aer offers "
            f"{', '.join(offered)} only: it needs an NVIDIA GPU and Aer's GPU build of the pinned "
            "version (pip uninstall qiskit-aer && pip install 'qiskit-aer-gpu-cu11==0.17.2', for CUDA 11; "
            "qiskit-aer-gpu has no 0.17 release); use profile 'aer' here"
        )


def dry_run_stand_in(prof: Profile, wires: int) -> Any:
    """What a dry run compiles for instead of an IBM Quantum backend (which needs an account and the network):
    the named device's fake twin, or a generic fake device of enough qubits."""
    if prof.ibm.backend:
        try:
            return fake_backend(prof.ibm.backend.removeprefix("ibm_"))
        except ProfileError:
            pass
    from qiskit.providers.fake_provider import GenericBackendV2

    return GenericBackendV2(num_qubits=max(wires, 2), seed=0)


def transpile_options(prof: Profile) -> dict[str, Any]:
    options = {"optimization_level": prof.qiskit.optimization_level, "seed_transpiler": prof.qiskit.seed_transpiler}
    return {k: v for k, v in options.items() if v is not None}
