"""PennyLane's own device test suite (what `pl-device-test` runs) on the bridge.qiskit device.

Run the way pennylane-qiskit's CI runs it for ``qiskit.aer`` (``--skip-ops``), once exact and once with
shots. The shot run uses 100,000 shots: the suite's fixed tolerance of 0.05 is about one standard
deviation of its multi-wire Hermitian test at 20,000 shots (σ ≈ 0.047), so at 20,000 shots that test
fails for roughly one seed in three on any correct sampler.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.conformance

# Skips measured with PennyLane 0.45.1: tests of the old device interface, sampling tests in analytic mode (and
# analytic ones with shots), qutrit and CV templates, and backprop/adjoint, which bridge.qiskit does not offer
# (its "best" and "parameter-shift" run the device's own shift rule, so the gradient tests exercise it).
SKIP_CAP = {"exact": 46, "shots": 61}


@pytest.mark.parametrize("shots", [None, 100_000], ids=["exact", "shots"])
def test_pennylane_device_suite_passes(shots, tmp_path):
    from pennylane.devices.tests import get_device_tests

    command = [
        sys.executable,
        "-m",
        "pytest",
        get_device_tests(),
        "--device=bridge.qiskit",
        "--skip-ops",
        "--device-kwargs",
        "profile=aer",
        "--no-flaky-report",
        "-q",
        "-p",
        "no:cacheprovider",
        "--tb=short",
        "-W",
        "ignore::DeprecationWarning",
    ]
    if shots:
        command.append(f"--shots={shots}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, f"PennyLane's device suite failed: {summary}\n{result.stdout[-5000:]}"
    passed = re.search(r"(\d+) passed", summary)
    skipped = re.search(r"(\d+) skipped", summary)
    n_skipped = int(skipped.group(1)) if skipped else 0
    print(f"PennyLane device suite ({'exact' if shots is None else f'{shots} shots'}): {summary}")
    assert passed and int(passed.group(1)) > 300 and not re.search(r"\d+ (failed|error)", summary)
    cap = SKIP_CAP["exact" if shots is None else "shots"]
    assert n_skipped <= cap, f"{n_skipped} tests skipped, above the cap of {cap}: {summary}"
