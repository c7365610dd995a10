"""Profile loading, validation and every documented profile error."""

from __future__ import annotations

import pytest

from bridge.exceptions import ProfileError
from bridge.profiles import builtin_names, list_profiles, load_profile, parse_profile

REQUIRED = {"default", "lightning", "aer", "aer-shots", "aer-noisy", "ibm", "aer-stock", "fast"}


def test_shipped_profiles_load_and_cover_the_required_set():
    profiles = {p.name: p for p in list_profiles()}
    assert REQUIRED <= set(profiles)
    assert all(p.description and p.device for p in profiles.values())
    assert profiles["default"].device == "default.qubit" and profiles["default"].exact
    assert profiles["lightning"].device == "lightning.qubit"
    assert profiles["aer"].exact and profiles["aer"].device == "bridge.qiskit"
    assert profiles["aer-stock"].exact and profiles["aer-stock"].device == "qiskit.aer"
    assert profiles["aer-stock"].qiskit.method == "statevector"
    assert profiles["aer-shots"].shots == 1024 and profiles["aer-shots"].device == "bridge.qiskit"
    assert profiles["aer-noisy"].qiskit.noise_backend == "FakeManilaV2" and profiles["aer-noisy"].shots
    assert profiles["ibm"].device == "bridge.qiskit" and profiles["ibm"].qiskit.backend == "ibm"
    assert not profiles["ibm"].exact and profiles["ibm"].needs_ibm_account
    assert not any(p.needs_ibm_account for name, p in profiles.items() if name != "ibm")
    assert profiles["fast"].exact and (profiles["fast"].device, profiles["fast"].diff_method) == (
        "default.qubit",
        "backprop",
    )
    for p in profiles.values():  # the batched device differentiates itself (parameter-shift rule, batched)
        if p.name != "fast":  # the development profile: exact backprop
            assert p.diff_method == ("device" if p.device == "bridge.qiskit" else "parameter-shift")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ProfileError, match=r"unknown device profile 'nope'; known profiles: aer, .*default"):
        load_profile("nope")


def test_environment_variable_picks_the_profile(monkeypatch):
    monkeypatch.setenv("BRIDGE_DEVICE", "lightning")
    assert load_profile().name == "lightning"
    assert load_profile("default").name == "default"  # an explicit name wins


def test_default_is_aer_without_environment():
    assert load_profile().name == "aer"


def test_user_file_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('description = "mine"\ndevice = "default.qubit"\nshots = 500\n')
    prof = load_profile(str(path))
    assert (prof.name, prof.shots, prof.source) == ("mine", 500, path)


def test_missing_user_file(tmp_path):
    with pytest.raises(ProfileError, match=r"does not exist.*profile names: aer"):
        load_profile(str(tmp_path / "absent.toml"))


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('description = "x"\ndevice = "default.qubit"\nshots = = 3\n')
    with pytest.raises(ProfileError, match=rf"malformed device profile {path}, line 3"):
        load_profile(str(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('description="x"\ndevice="default.qubit"\nshot=3\n', r"unknown key\(s\) 'shot' in top level"),
        (
            'description="x"\ndevice="qiskit.aer"\n[qiskit]\nmethd="statevector"\n',
            r"unknown key\(s\) 'methd' in \[qiskit\]",
        ),
        (
            'description="x"\ndevice="qiskit.remote"\nshots=10\n[ibm]\ntoken="x"\n',
            r"unknown key\(s\) 'token' in \[ibm\]",
        ),
        ('description="x"\n', r"has no 'device' key"),
        ('device="default.qubit"\n', r"has no 'description' key"),
        ('description="x"\ndevice="default.qubit"\nshots=0\n', r"'shots' must be a positive integer, got 0"),
        ('description="x"\ndevice="default.qubit"\nshots=-5\n', r"'shots' must be a positive integer, got -5"),
        ('description="x"\ndevice="default.qubit"\nshots=10.5\n', r"'shots' must be a positive integer, got 10.5"),
        ('description="x"\ndevice="default.qubit"\nshots=true\n', r"'shots' must be a positive integer, got True"),
        ('description="x"\ndevice="default.qubit"\nseed="a"\n', r"'seed' must be int"),
        ('description="x"\ndevice=3\n', r"'device' must be str"),
        ('description="x"\ndevice="default.qubit"\ndiff_method="magic"\n', r"diff_method 'magic' is not one of"),
        (
            'description="x"\ndevice="qiskit.aer"\n[qiskit]\nmethod="automatic"\n',
            r"need \[qiskit\] method = \"statevector\"",
        ),
        ('description="x"\ndevice="qiskit.remote"\n', r"qiskit.remote has no exact mode"),
        (
            'description="x"\ndevice="bridge.qiskit"\n[qiskit]\nbackend="ibm"\n',
            r"exact expectation values need the ideal Aer",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=5\n[qiskit]\nbackend="ibmq"\n',
            r"backend 'ibmq' is not one of aer, ibm",
        ),
        ('description="x"\ndevice="default.qubit"\n[qiskit]\nmethod="statevector"\n', r"only apply to"),
        ('description="x"\ndevice="qiskit.aer"\n[qiskit]\noptimization_level="high"\n', r"must be an integer"),
        ('description="x"\ndevice="qiskit.aer"\nqiskit=3\n', r"\[qiskit\] must be a table"),
    ],
)
def test_invalid_profiles_are_rejected_with_the_reason(text, message):
    with pytest.raises(ProfileError, match=message):
        parse_profile(text, name="t")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('description="x"\ndevice="default.qubit"\n\nshot=3\n', r"t, line 4: unknown key\(s\) 'shot'"),
        (
            'description="x"\ndevice="qiskit.aer"\n[qiskit]\nmethod="statevector"\nmethd="x"\n',
            r"line 5: unknown key\(s\) 'methd'",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=4\n[qiskit]\nretries=-1\n',
            r"line 5: \[qiskit\] 'retries' must be ≥ 0",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\n[qiskit]\nretry_backoff="soon"\n',
            r"line 4: \[qiskit\] 'retry_backoff' must be a number of seconds",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\n[qiskit]\njob_timeout=-2.5\n',
            r"line 4: \[qiskit\] 'job_timeout' must be a number of seconds ≥ 0, got -2.5",
        ),
        ('description="x"\ndevice="default.qubit"\nseed="a"\n', r"t, line 3: 'seed' must be int"),
        ('description="x"\n\ndevice="default.qubit"\nshots=0\n', r"t, line 4: 'shots' must be a positive integer"),
    ],
)
def test_errors_name_the_line_of_the_key(text, message):
    with pytest.raises(ProfileError, match=message):
        parse_profile(text, name="t")


def test_retry_keys_are_read():
    prof = parse_profile(
        'description="x"\ndevice="bridge.qiskit"\n[qiskit]\nretries=0\nretry_backoff=2\njob_timeout=30\n', name="t"
    )
    assert (prof.qiskit.retries, prof.qiskit.retry_backoff, prof.qiskit.job_timeout) == (0, 2.0, 30.0)
    from bridge.qiskit import QiskitBatchDevice

    policy = QiskitBatchDevice(1, profile=prof).settings.retry
    assert (policy.retries, policy.backoff, policy.timeout) == (0, 2.0, 30.0)


def test_with_shots_validates():
    aer = load_profile("aer")
    assert aer.with_shots(100).shots == 100 and load_profile("aer-shots").with_shots(None).exact
    with pytest.raises(ProfileError, match="exact expectation values need the ideal Aer simulator"):
        load_profile("aer-noisy").with_shots(None)
    with pytest.raises(ProfileError, match="exact expectation values need the ideal Aer simulator"):
        load_profile("ibm").with_shots(None)


def test_builtin_names_are_the_shipped_files():
    assert builtin_names() == sorted(builtin_names())
    assert "aer" in builtin_names()


# the diff methods each device serves (PennyLane 0.45, a torch QNode on exactly the circuit's wires); the table
# bridge.profiles.checks.DEVICE_DIFF_METHODS holds, checked here against the devices themselves where they run
SERVED = {
    "default.qubit": {"best", "backprop", "adjoint", "parameter-shift", "finite-diff", "spsa"},
    "default.mixed": {"parameter-shift", "finite-diff", "spsa"},  # backprop ("best" too): NaN through a CNOT
    "lightning.qubit": {"best", "adjoint", "parameter-shift", "finite-diff", "spsa"},
    "qiskit.aer": {"best", "parameter-shift", "finite-diff", "spsa"},
    "bridge.qiskit": {"device", "best", "parameter-shift", "finite-diff", "spsa"},
}


def _exact_profile(device: str, method: str) -> str:
    return f'description="x"\ndevice="{device}"\ndiff_method="{method}"\n'


@pytest.mark.parametrize("device", sorted(SERVED))
def test_a_profile_takes_exactly_the_diff_methods_its_device_serves(device):
    """Every method of the table loads and differentiates a small circuit; every other one is refused on load."""
    import pennylane as qml
    import torch

    from bridge.layers.qnodes import make_qnode
    from bridge.profiles import DIFF_METHODS

    def circuit(x, w):
        qml.RY(x[..., 0], wires=0)
        qml.RX(w[0], wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.PauliZ(1))

    for method in DIFF_METHODS:
        text = _exact_profile(device, method)
        if method not in SERVED[device]:
            with pytest.raises(ProfileError, match=rf"diff_method '{method}'"):
                parse_profile(text, name="t")
            continue
        w = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
        x = torch.tensor([[0.1], [0.2]], dtype=torch.float64)
        make_qnode(circuit, parse_profile(text, name="t"), 2)(x, w).sum().backward()
        assert w.grad is not None and torch.isfinite(w.grad).all(), (device, method)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _exact_profile("lightning.qubit", "backprop"),
            r"t: lightning.qubit does not support diff_method 'backprop'; use one of best, adjoint, parameter-shift, "
            r"finite-diff, spsa",
        ),
        (
            _exact_profile("default.qubit", "device"),
            r"default.qubit does not support diff_method 'device'; use one of best, backprop, adjoint",
        ),
        (
            _exact_profile("default.qubit", "hadamard"),
            r"'hadamard' needs an auxiliary wire .* use \"parameter-shift\" \(the same exact gradients\) or one of best",
        ),
        (_exact_profile("my.plugin", "hadamard"), r"'hadamard' needs an auxiliary wire"),
        (_exact_profile("default.qubit", "backprop") + "shots=10\n", r'"backprop" differentiates .* takes no shots'),
        (_exact_profile("default.mixed", "adjoint"), r"default.mixed does not support diff_method 'adjoint'"),
        (_exact_profile("default.mixed", "best"), r"'best' \(\"best\" picks backprop, whose gradients are NaN"),
        ('description="x"\ndevice="default.qubit"\nseed=-1\n', r"t, line 3: 'seed' must be ≥ 0 and ≤ 4294967295"),
        ('description="x"\ndevice="default.qubit"\nseed=4294967296\n', r"got 4294967296"),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=4\n[qiskit]\nnoise_backend="FakeManilaV2"\n'
            "seed_transpiler=4294967296\n",
            r"line 6: \[qiskit\] 'seed_transpiler' must be ≥ 0 and ≤ 4294967295",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=4\n[qiskit]\nretries=21\n',
            r"line 5: \[qiskit\] 'retries' must be ≥ 0 and ≤ 20, got 21",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=4\n[qiskit]\njob_timeout=0\n',
            r"line 5: \[qiskit\] 'job_timeout' must be a number of seconds > 0, got 0; omit it for no limit",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=4\n[qiskit]\nretry_backoff=3601\n',
            r"line 5: \[qiskit\] 'retry_backoff' must be a number of seconds ≤ 3,600, got 3601",
        ),
        (
            'description="x"\ndevice="bridge.qiskit"\nshots=4\n[qiskit]\nbackend="ibm"\n[ibm]\nconnect_timeout=0\n',
            r"line 7: \[ibm\] 'connect_timeout' must be a number of seconds > 0, got 0",
        ),
    ],
)
def test_values_out_of_range_and_methods_a_device_cannot_serve_are_refused(text, message):
    with pytest.raises(ProfileError, match=message):
        parse_profile(text, name="t")


def test_edges_of_the_ranges_load():
    prof = parse_profile(
        'description="x"\ndevice="bridge.qiskit"\nshots=4\nseed=4294967295\n[qiskit]\nnoise_backend="FakeManilaV2"\n'
        "seed_transpiler=0\nretries=20\nretry_backoff=0\njob_timeout=0.5\n",
        name="t",
    )
    assert (prof.seed, prof.qiskit.seed_transpiler, prof.qiskit.retries) == (2**32 - 1, 0, 20)
    assert prof.with_seed(0).seed == 0
    with pytest.raises(ProfileError, match=r"'seed' must be ≥ 0"):
        prof.with_seed(-1)


@pytest.mark.parametrize("name", ["aer-noisy:", "aer-noisy:  ", "ibm-fake-manila:"])
def test_an_empty_variant_is_refused_and_a_spaced_one_is_trimmed(name):
    with pytest.raises(ProfileError, match=rf"profile '{name}' names no fake device after ':'"):
        load_profile(name)
    assert load_profile("aer-noisy: brisbane").qiskit.noise_backend == "brisbane"
    from bridge.profiles import with_fake_device

    with pytest.raises(ProfileError, match="no fake device given"):
        with_fake_device(load_profile("aer-noisy"), " ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('description="x"\ndevice=""\n', r"t, line 2: 'device' is empty; give a PennyLane device"),
        ('description=" "\ndevice="default.qubit"\n', r"t, line 1: 'description' is empty; give one line"),
    ],
)
def test_a_blank_device_or_description_is_refused(text, message):
    """Found by test_fuzz's structured profiles (``device = ""`` loaded, and failed only when a device was built)."""
    with pytest.raises(ProfileError, match=message):
        parse_profile(text, name="t")
