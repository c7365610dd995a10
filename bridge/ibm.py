"""IBM Quantum account and backend selection, failing early with a message that says how to configure.

Credentials come from ``QISKIT_IBM_TOKEN`` (with optional ``QISKIT_IBM_INSTANCE``) or from the account
saved by ``QiskitRuntimeService.save_account``. Nothing here trains or runs a circuit.
"""

from __future__ import annotations

import os
from typing import Any

from bridge.exceptions import CredentialsError, ProfileError
from bridge.profiles import IBMOptions

TOKEN_VAR = "QISKIT_IBM_TOKEN"
INSTANCE_VAR = "QISKIT_IBM_INSTANCE"

HOW_TO_CONFIGURE = (
    "No IBM Quantum credentials found. Configure them in one of two ways:\n"
    f"  1. export {TOKEN_VAR}=<your API key> (and {INSTANCE_VAR}=<your instance CRN>), or\n"
    "  2. save an account once: python -c \"from qiskit_ibm_runtime import QiskitRuntimeService; "
    "QiskitRuntimeService.save_account(token='<API key>', instance='<CRN>', "
    "channel='ibm_quantum_platform', set_as_default=True)\"\n"
    "Get an API key at https://quantum.cloud.ibm.com. To try without hardware use --device aer-noisy."
)


def check_credentials() -> None:
    """Fail fast, without network, when neither ``QISKIT_IBM_TOKEN`` nor a saved account exists.

    Raises:
        CredentialsError: with :data:`HOW_TO_CONFIGURE`.
    """
    if os.environ.get(TOKEN_VAR, "").strip():
        return
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        saved = QiskitRuntimeService.saved_accounts()
    except Exception as e:  # an unreadable account file is as good as none
        raise CredentialsError(f"{HOW_TO_CONFIGURE}\n(the saved account file could not be read: {e})") from e
    if not saved:
        raise CredentialsError(HOW_TO_CONFIGURE)


def runtime_service(options: IBMOptions) -> Any:
    """Open a ``QiskitRuntimeService`` from the environment or the saved account.

    Raises:
        CredentialsError: no token in the environment and no saved account, or the service rejected them.
    """
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts.exceptions import AccountNotFoundError

    token = os.environ.get(TOKEN_VAR, "").strip()
    instance = options.instance or os.environ.get(INSTANCE_VAR, "").strip() or None
    kwargs: dict[str, Any] = {"channel": options.channel}
    if token:
        kwargs["token"] = token
    if instance:
        kwargs["instance"] = instance
    try:
        return QiskitRuntimeService(**kwargs)
    except AccountNotFoundError as e:
        raise CredentialsError(HOW_TO_CONFIGURE) from e
    except Exception as e:  # the service reports bad tokens with several exception types
        if not token and "account" in str(e).lower():
            raise CredentialsError(HOW_TO_CONFIGURE) from e
        raise CredentialsError(f"IBM Quantum rejected the credentials ({type(e).__name__}: {e}). "
                               f"Check {TOKEN_VAR} / {INSTANCE_VAR} or the saved account.") from e


def ibm_backend(options: IBMOptions, n_qubits: int) -> Any:
    """The IBM backend named in the profile, or the least busy one with at least ``n_qubits`` qubits.

    Raises:
        CredentialsError: see :func:`runtime_service`.
        ProfileError: the named backend does not exist for this account.
    """
    service = runtime_service(options)
    if not options.backend:
        return service.least_busy(operational=True, simulator=False, min_num_qubits=n_qubits)
    try:
        return service.backend(options.backend)
    except Exception as e:
        names = ", ".join(b.name for b in service.backends())
        raise ProfileError(f"IBM backend {options.backend!r} is not available to this account; "
                           f"available: {names}") from e
