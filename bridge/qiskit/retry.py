"""Primitive jobs that survive transient failures: retries with exponential backoff and a per-job timeout.

A job is submitted by a ``submit()`` callable and read by ``read(job)``. A *transient* failure (a failed
or timed-out job, a dropped connection, a rate-limit or server error of IBM Runtime's API; see
:func:`retried_errors`) is
retried after ``backoff``, ``2·backoff``, ``4·backoff`` … seconds; the same ``submit`` is called again, so
a seeded sampler reruns with the same seed and a retried run gives the same result. After the last
attempt the failure is raised as :class:`~bridge.exceptions.ExecutionError`, which names the job id.
Anything else (a programming error, a bad circuit) is raised at once, unchanged.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from bridge.exceptions import ExecutionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a primitive job is tried.

    Attributes:
        retries: attempts after the first one (0: fail on the first error).
        backoff: seconds before the first retry; doubled before each further one.
        timeout: seconds to wait for one job's result (``None``: no limit); a job that takes longer
            counts as a transient failure.
    """

    retries: int = 3
    backoff: float = 1.0
    timeout: float | None = None


@cache
def retried_errors() -> tuple[type[BaseException], ...]:
    """Exception types that may be transient; :func:`is_transient` decides for each error.

    Retried: a job that failed or timed out (Qiskit's ``JobError``/``JobTimeoutError``, which an Aer ``Result`` that
    did not succeed raises here too; the runtime's ``RuntimeJobFailureError``/``RuntimeJobTimeoutError``), a dropped
    or timed-out connection, and an API answer of 429 (rate limit) or 5xx (server error).

    Not retried: everything else, among it Aer's ``AerError`` (raised when a job is submitted, for an invalid
    circuit or option: the same job fails the same way) and 4xx API answers (the request itself is wrong).
    """
    import requests
    from qiskit.providers import JobError, JobTimeoutError
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError
    from qiskit_ibm_runtime.exceptions import IBMBackendApiError, RuntimeJobFailureError, RuntimeJobTimeoutError

    return (
        JobError,
        JobTimeoutError,
        RuntimeJobFailureError,
        RuntimeJobTimeoutError,
        RequestsApiError,
        IBMBackendApiError,
        ConnectionError,
        TimeoutError,
        requests.ConnectionError,
        requests.Timeout,
    )


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (one of :func:`retried_errors`) may pass on a retry: API errors only for 429 or 5xx."""
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError
    from qiskit_ibm_runtime.exceptions import IBMBackendApiError

    if isinstance(error, RequestsApiError | IBMBackendApiError):
        status = getattr(error, "status_code", None) or getattr(error.__cause__, "status_code", None)
        return status is None or status == 429 or status >= 500
    return True


def job_id(job: Any) -> str:
    """The job's id, or ``"(not submitted)"`` when the submission itself failed."""
    if job is None:
        return "(not submitted)"
    try:
        return str(job.job_id())
    except (AttributeError, TypeError):
        return "(no id)"


def _result(job: Any, timeout: float | None) -> Any:
    if timeout is not None and "timeout" in _parameters(getattr(job.result, "__func__", job.result)):
        return job.result(timeout=timeout)
    return job.result()


@cache
def _parameters(function: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)


def run_job(
    submit: Callable[[], Any],
    policy: RetryPolicy,
    *,
    read: Callable[[Any], Any] | None = None,
    describe: str = "primitive job",
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int], None] | None = None,
) -> Any:
    """Submit a job and return what ``read`` makes of it, retrying transient failures.

    Args:
        submit: submits the job and returns it (``primitive.run(pubs)``, ``backend.run(circuits)``).
        policy: retries, backoff (seconds) and per-job timeout (seconds).
        read: turns the job's result into the return value (default: the result itself); it may raise
            ``JobError`` for a failed result, which is retried like any transient failure.
        describe: what the job is, for messages.
        sleep: waits between attempts (a test passes a recorder).
        on_retry: called with the attempt number (1, 2, …) before each retry.

    Raises:
        ExecutionError: every attempt failed; the message names the last job's id and its error.
    """
    errors = retried_errors()
    attempts = policy.retries + 1
    for attempt in range(attempts):
        job = None
        try:
            job = submit()
            result = _result(job, policy.timeout)
            return read(result) if read else result
        except errors as e:
            if not is_transient(e):
                raise
            ident = job_id(job)
            if attempt + 1 == attempts:
                raise ExecutionError(
                    f"{describe} {ident} failed after {attempts} attempt(s): {type(e).__name__}: {e}. "
                    "Check the backend's status; raise the profile's [qiskit] retries or job_timeout if it "
                    "is only slow or flaky"
                ) from e
            delay = policy.backoff * 2**attempt
            log.warning(
                "%s %s failed (%s: %s); retry %d of %d in %.1f s",
                describe,
                ident,
                type(e).__name__,
                e,
                attempt + 1,
                policy.retries,
                delay,
            )
            if on_retry:
                on_retry(attempt + 1)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
