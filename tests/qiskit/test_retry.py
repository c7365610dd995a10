"""The retry policy of primitive jobs: which errors are retried, how long it waits, what it finally says."""

from __future__ import annotations

import pytest
from qiskit.providers import JobError, JobTimeoutError
from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

from bridge.exceptions import ExecutionError
from bridge.qiskit.retry import RetryPolicy, run_job


class Job:
    """The two methods of a Qiskit job that :func:`run_job` uses."""

    def __init__(self, ident, outcome, *, takes_timeout=True):
        self.ident, self.outcome, self.timeouts = ident, outcome, []
        if not takes_timeout:
            self.result = self._result_without_timeout

    def job_id(self):
        return self.ident

    def result(self, timeout=None):
        self.timeouts.append(timeout)
        return self._result_without_timeout()

    def _result_without_timeout(self):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _submitter(outcomes, **job_options):
    jobs = []

    def submit():
        outcome = outcomes[len(jobs)]
        if isinstance(outcome, ConnectionError):  # the submission itself fails: no job
            jobs.append(None)
            raise outcome
        jobs.append(Job(f"job-{len(jobs)}", outcome, **job_options))
        return jobs[-1]

    return submit, jobs


def test_transient_failures_are_retried_with_doubling_backoff():
    submit, jobs = _submitter([JobError("lost"), ConnectionError("reset"), RuntimeJobFailureError("failed"), "ok"])
    waits = []
    assert run_job(submit, RetryPolicy(retries=3, backoff=0.5), sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0, 2.0] and len(jobs) == 4


def test_the_last_failure_names_the_job_and_its_error():
    submit, _ = _submitter([JobError("a"), JobTimeoutError("took too long")])
    with pytest.raises(
        ExecutionError,
        match=r"^sampler job job-1 failed after 2 attempt\(s\): JobTimeoutError: "
        r".?took too long.?\. .*\[qiskit\] retries or job_timeout",
    ) as info:
        run_job(submit, RetryPolicy(retries=1, backoff=0), describe="sampler job", sleep=lambda s: None)
    assert isinstance(info.value.__cause__, JobTimeoutError)


def test_a_failed_submission_has_no_job_id():
    submit, _ = _submitter([ConnectionError("no route")])
    with pytest.raises(ExecutionError, match=r"\(not submitted\) failed after 1 attempt"):
        run_job(submit, RetryPolicy(retries=0), sleep=lambda s: None)


def test_errors_that_are_not_transient_are_raised_at_once():
    submit, jobs = _submitter([ValueError("bad circuit"), "never"])
    with pytest.raises(ValueError, match="bad circuit"):
        run_job(submit, RetryPolicy(retries=5), sleep=lambda s: None)
    assert len(jobs) == 1


def test_a_read_that_rejects_the_result_is_retried():
    submit, jobs = _submitter(["partial", "complete"])

    def read(result):
        if result != "complete":
            raise JobError("result incomplete")
        return result.upper()

    assert run_job(submit, RetryPolicy(retries=1, backoff=0), read=read, sleep=lambda s: None) == "COMPLETE"


@pytest.mark.parametrize("takes_timeout", [True, False])
def test_the_job_timeout_reaches_jobs_whose_result_takes_one(takes_timeout):
    submit, jobs = _submitter(["ok"], takes_timeout=takes_timeout)
    run_job(submit, RetryPolicy(timeout=12.5))
    assert jobs[0].timeouts == ([12.5] if takes_timeout else [])


def test_a_deterministic_aer_error_is_not_retried():
    """An invalid option makes Aer raise AerError when the job is submitted: the same job would fail the same way."""
    from qiskit import QuantumCircuit
    from qiskit_aer import AerError, AerSimulator

    circuit = QuantumCircuit(1)
    circuit.measure_all()
    attempts = []

    def submit():
        attempts.append(1)
        return AerSimulator(method="no_such_method").run(circuit)

    with pytest.raises(AerError):
        run_job(submit, RetryPolicy(retries=3, backoff=0.0), sleep=lambda s: None)
    assert len(attempts) == 1


@pytest.mark.parametrize(("status", "retried"), [(400, False), (401, False), (429, True), (503, True), (None, True)])
def test_api_errors_are_retried_for_rate_limits_and_server_errors_only(status, retried):
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError

    attempts = []

    def submit():
        attempts.append(1)
        raise RequestsApiError("api answered", status_code=status)

    with pytest.raises(ExecutionError if retried else RequestsApiError):
        run_job(submit, RetryPolicy(retries=2, backoff=0.0), sleep=lambda s: None)
    assert len(attempts) == (3 if retried else 1)
