"""Device profiles (this package: :mod:`~bridge.profiles.loading`, :mod:`~bridge.profiles.schema`,
:mod:`~bridge.profiles.checks`): small TOML files that choose the backend a circuit runs on.

A profile is picked by name (a file ``devices/NAME.toml`` shipped with the package), by a path to a
user's own TOML file, or through the ``BRIDGE_DEVICE`` environment variable. Code never changes to
change backend.

Schema (every key but ``device`` and ``description`` optional)::

    description = "one line shown by `qml-bridge devices`"
    device = "qiskit.aer"            # a PennyLane device name
    diff_method = "parameter-shift"  # one the device serves (bridge.profiles.checks.DEVICE_DIFF_METHODS)
    shots = 1024                     # omit for exact expectation values
    seed = 1234                      # simulator seed (sampling and noise), 0 … 2**32 - 1

    [qiskit]                         # only for qiskit.* and bridge.qiskit devices
    # backend: "aer" (Aer, ideal or with noise_backend), "ibm" (QiskitRuntimeService), "fake" (a fake IBM
    # device of qiskit_ibm_runtime.fake_provider, named by [ibm] backend, through the runtime's local mode)
    method = "statevector"           # Aer simulation method (qiskit.aer)
    backend = "aer"                  # bridge.qiskit: "aer", "ibm" or "fake" (see above)
    noise_backend = "FakeManilaV2"   # a backend of qiskit_ibm_runtime.fake_provider
    optimization_level = 1           # transpiler options
    seed_transpiler = 1234           # 0 … 2**32 - 1
    retries = 3                      # bridge.qiskit: retries of a failed primitive job, 0 … 20
    retry_backoff = 1.0              # seconds before the first retry, doubled for each further one (≤ 3600)
    job_timeout = 600.0              # seconds to wait for one job, > 0 and ≤ 30 days (omit: no limit)
    threads = 4                      # bridge.qiskit on Aer: threads of this process's runs, 1 … 4096 (omit: the
                                     # process's share of the cores, bridge.qiskit.cores)
    workers = 2                      # bridge.qiskit on ideal Aer: processes running exact jobs of 256 rows and
                                     # more, 1 … 1024 (omit: as many as threads; 1: this process alone)

    [ibm]                            # only for IBM backends (real or fake)
    backend = ""                     # empty: least busy device with enough qubits; "fake_manila" for "fake"
    channel = "ibm_quantum_platform"
    instance = ""                    # empty: QISKIT_IBM_INSTANCE or the saved account's
    mode = "job"                     # execution mode: "job", "batch" or "session"

    [ibm.options]                    # passed to the runtime EstimatorV2 (and SamplerV2 where it applies)
    resilience_level = 1
    dynamical_decoupling = { enable = true, sequence_type = "XY4" }
    twirling = { enable_gates = true }

A name ``BASE:DEVICE`` (``aer-noisy:brisbane``, ``ibm-fake-manila:kyiv``) is the profile ``BASE`` with
its fake IBM device replaced by ``DEVICE``; an empty ``DEVICE`` (``aer-noisy:``) is refused.
"""

from bridge.profiles.checks import DIFF_METHODS
from bridge.profiles.loading import (
    DEFAULT_PROFILE,
    ENV_VAR,
    builtin_dir,
    builtin_names,
    list_profiles,
    load_profile,
    resolve_name,
    with_fake_device,
)
from bridge.profiles.schema import (
    EXECUTION_MODES,
    QISKIT_BACKENDS,
    QISKIT_DEVICES,
    IBMOptions,
    Profile,
    QiskitOptions,
    parse_profile,
)

__all__ = [
    "DEFAULT_PROFILE",
    "DIFF_METHODS",
    "ENV_VAR",
    "EXECUTION_MODES",
    "QISKIT_BACKENDS",
    "QISKIT_DEVICES",
    "IBMOptions",
    "Profile",
    "QiskitOptions",
    "builtin_dir",
    "builtin_names",
    "list_profiles",
    "load_profile",
    "parse_profile",
    "resolve_name",
    "with_fake_device",
]
