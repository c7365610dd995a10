"""IBM Quantum account and backend selection, failing early with a message that says what happened and what to do.

Credentials come from ``QISKIT_IBM_TOKEN`` (with optional ``QISKIT_IBM_INSTANCE``) or from the account saved by
``QiskitRuntimeService.save_account``. Before the runtime service is opened, the two endpoints it contacts (the
API and IBM Cloud's IAM) are asked for an answer within ``[ibm] connect_timeout`` seconds: an unreachable or
silent network is reported as a :class:`~bridge.exceptions.NetworkError`, and credentials are blamed
(:class:`~bridge.exceptions.CredentialsError`) only on an authentication service's answer. qiskit-ibm-runtime
reports both as "check that you are using a valid API token"; the bridge tells them apart by the error's cause.
Nothing here trains or runs a circuit.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from bridge.exceptions import CredentialsError, NetworkError, ProfileError
from bridge.profiles import IBMOptions

TOKEN_VAR = "QISKIT_IBM_TOKEN"
INSTANCE_VAR = "QISKIT_IBM_INSTANCE"
DEFAULT_URL = "https://cloud.ibm.com"  # qiskit-ibm-runtime's default for the ibm_quantum_platform channel

HOW_TO_CONFIGURE = (
    "No IBM Quantum credentials found. Configure them in one of two ways:\n"
    f"  1. export {TOKEN_VAR}=<your API key> (and {INSTANCE_VAR}=<your instance CRN>), or\n"
    '  2. save an account once: python -c "from qiskit_ibm_runtime import QiskitRuntimeService; '
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
    from qiskit_ibm_runtime.accounts.exceptions import AccountsError

    try:
        saved = QiskitRuntimeService.saved_accounts()
    except (OSError, ValueError, AccountsError) as e:  # an unreadable account file is as good as none
        raise CredentialsError(f"{HOW_TO_CONFIGURE}\n(the saved account file could not be read: {e})") from e
    if not saved:
        raise CredentialsError(HOW_TO_CONFIGURE)


def endpoints(url: str) -> list[str]:
    """The URLs the runtime service contacts first: its API and IBM Cloud's IAM (``iam.`` + the API's host)."""
    parsed = urlparse(url)
    return [url, f"{parsed.scheme}://iam.{parsed.hostname}"]


def check_reachable(url: str, timeout: float) -> None:
    """Ask each of :func:`endpoints` for an answer within ``timeout`` seconds (:func:`probe_endpoint`).

    Raises:
        NetworkError: an endpoint cannot be resolved or connected to, or did not answer in time.
    """
    for endpoint in endpoints(url):
        probe_endpoint(endpoint, timeout)


def probe_endpoint(endpoint: str, timeout: float) -> None:
    """One HTTP ``HEAD`` request; any answer (whatever its status) means the endpoint is reachable.

    Raises:
        NetworkError: it cannot be resolved or connected to, or did not answer within ``timeout`` seconds.
    """
    import requests

    try:
        requests.head(endpoint, timeout=timeout, allow_redirects=False)
    except requests.Timeout as e:
        raise NetworkError(
            f"IBM Quantum's endpoint {endpoint} did not answer within {timeout:g} s; check the "
            "network (or proxy), or raise [ibm] connect_timeout in the profile"
        ) from e
    except requests.RequestException as e:
        raise NetworkError(
            f"cannot reach IBM Quantum's endpoint {endpoint} ({_root_cause(e)}); check the network "
            "(or proxy) and [ibm] url in the profile"
        ) from e


def runtime_service(options: IBMOptions) -> Any:
    """Open a ``QiskitRuntimeService`` from the environment or the saved account.

    Raises:
        CredentialsError: no token and no saved account, or IBM's authentication rejected them.
        NetworkError: IBM Quantum's endpoints are unreachable or silent.
    """
    import requests
    from ibm_cloud_sdk_core import ApiException
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts.exceptions import AccountNotFoundError, InvalidAccountError
    from qiskit_ibm_runtime.exceptions import IBMNotAuthorizedError

    token = os.environ.get(TOKEN_VAR, "").strip()
    instance = options.instance or os.environ.get(INSTANCE_VAR, "").strip() or None
    kwargs: dict[str, Any] = {"channel": options.channel}
    for key, value in (("token", token), ("instance", instance), ("url", options.url)):
        if value:
            kwargs[key] = value
    check_credentials()  # no token and no saved account: say how to configure, without touching the network
    check_reachable(options.url or DEFAULT_URL, options.connect_timeout)
    try:
        return QiskitRuntimeService(**kwargs)
    except AccountNotFoundError as e:
        raise CredentialsError(HOW_TO_CONFIGURE) from e
    except (InvalidAccountError, IBMNotAuthorizedError, ApiException, requests.RequestException) as e:
        if _caused_by(e, requests.ConnectionError, requests.Timeout):
            raise NetworkError(
                f"IBM Quantum could not be reached while opening the account ({_root_cause(e)}); "
                "check the network, or retry later"
            ) from e
        raise CredentialsError(
            f"IBM Quantum rejected the credentials ({type(e).__name__}: {e}). "
            f"Check {TOKEN_VAR} / {INSTANCE_VAR} or the saved account."
        ) from e


def ibm_backend(options: IBMOptions, n_qubits: int) -> Any:
    """The IBM backend named in the profile, or the least busy one with at least ``n_qubits`` qubits.

    Raises:
        CredentialsError, NetworkError: see :func:`runtime_service`.
        ProfileError: the named backend does not exist for this account.
    """
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    service = runtime_service(options)
    if not options.backend:
        return service.least_busy(operational=True, simulator=False, min_num_qubits=n_qubits)
    try:
        return service.backend(options.backend)
    except QiskitBackendNotFoundError as e:
        names = ", ".join(b.name for b in service.backends())
        raise ProfileError(
            f"IBM backend {options.backend!r} is not available to this account; available: {names}"
        ) from e


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _caused_by(error: BaseException, *kinds: type[BaseException]) -> bool:
    return any(isinstance(cause, kinds) for cause in _causes(error))


def _root_cause(error: BaseException) -> str:
    root = _causes(error)[-1]
    return f"{type(root).__name__}: {str(root)[:160]}"
