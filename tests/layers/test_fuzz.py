"""Property-based tests: every profile text and every layer input either works or raises the documented
error (``ProfileError``, ``InputError``), never anything else."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import QuantumLayer, circuits
from bridge.exceptions import InputError, ProfileError
from bridge.profiles import Profile, parse_profile

TOP_KEYS = ["description", "device", "diff_method", "shots", "seed", "qiskit", "ibm", "shot", "backend"]
QISKIT_KEYS = [
    "method",
    "backend",
    "noise_backend",
    "optimization_level",
    "seed_transpiler",
    "retries",
    "retry_backoff",
    "job_timeout",
    "methd",
]
DEVICES = ["default.qubit", "lightning.qubit", "qiskit.aer", "qiskit.remote", "bridge.qiskit", "nope.device"]

scalars = st.one_of(
    st.integers(-5, 5000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.sampled_from(
        DEVICES
        + ["statevector", "automatic", "aer", "ibm", "FakeManilaV2", "device", "parameter-shift", "backprop", "x"]
    ),
    st.text(max_size=8),
)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string is a JSON string


@st.composite
def profile_texts(draw):
    lines = []
    top = draw(
        st.dictionaries(st.sampled_from([k for k in TOP_KEYS if k not in ("qiskit", "ibm")]), scalars, max_size=6)
    )
    for key, value in top.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for table, keys in (("qiskit", QISKIT_KEYS), ("ibm", ["backend", "channel", "instance", "token"])):
        if draw(st.booleans()):
            lines.append(f"[{table}]")
            for key, value in draw(st.dictionaries(st.sampled_from(keys), scalars, max_size=4)).items():
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(profile_texts())
def test_any_structured_profile_parses_or_raises_profile_error(text):
    try:
        profile = parse_profile(text, name="fuzz")
    except ProfileError as e:
        assert "device profile fuzz" in str(e)
        return
    assert isinstance(profile, Profile) and profile.device and profile.description
    assert profile.shots is None or profile.shots > 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_profile_error(text):
    try:
        parse_profile(text, name="fuzz")
    except ProfileError:
        pass


_LAYER = {}


def _layer():
    if not _LAYER:
        _LAYER["layer"] = QuantumLayer(circuits.angle_entangling(2, 1), profile="default")
    return _LAYER["layer"]


special = st.sampled_from([0.0, -0.0, 1e-300, 1e300, -7.5, math.pi, float("nan"), float("inf"), float("-inf")])


def _array(shape, values, dtype):
    with np.errstate(over="ignore", invalid="ignore"):  # 1e300 as float32 is inf, as it would be for a user
        return np.resize(np.asarray(values or [0.0]), shape).astype(dtype)


arrays = st.builds(
    _array,
    st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple),
    st.lists(st.one_of(st.floats(-10, 10), special), max_size=12),
    st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.float16]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays)
def test_any_input_tensor_gives_outputs_or_input_error(array):
    layer = _layer()
    x = torch.from_numpy(array)
    try:
        y = layer(x)
    except InputError as e:
        assert "angle_entangling" in str(e)
        return
    assert x.is_floating_point() and torch.isfinite(x).all() and x.shape[-1] == 2 and x.numel() > 0
    assert y.shape == (*x.shape[:-1], 2) and torch.isfinite(y).all()
    assert (y.abs() <= 1 + 1e-6).all()


@pytest.mark.parametrize("bad", [None, "text", 3, [0.1, 0.2], np.zeros((3, 2))])
def test_non_tensors_raise_input_error(bad):
    with pytest.raises(InputError, match="expects a torch.Tensor"):
        _layer()(bad)
