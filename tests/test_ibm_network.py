"""IBM Quantum's network faults are named as such, within the profile's connect timeout; credentials are blamed
only on an authentication answer. The endpoints are real local sockets (one that never answers, one that answers,
a closed port); the account service itself has no local stand-in and is replaced where its answer is tested."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

import bridge.ibm
from bridge.exceptions import CredentialsError, NetworkError
from bridge.profiles import IBMOptions


@pytest.fixture
def silent_endpoint():
    """A TCP endpoint that accepts connections and never answers (a network that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.fixture
def answering_endpoint():
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - http.server's naming
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_endpoint_that_never_answers_is_a_network_error_within_the_timeout(silent_endpoint):
    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"did not answer within 1 s; check the network .*connect_timeout"):
        bridge.ibm.probe_endpoint(silent_endpoint, 1.0)
    assert time.monotonic() - started < 3


def test_any_answer_means_reachable(answering_endpoint):
    bridge.ibm.probe_endpoint(answering_endpoint, 2.0)  # a 401 is an answer: the network works


def test_a_closed_port_and_an_unknown_host_are_network_errors():
    with pytest.raises(NetworkError, match=r"cannot reach IBM Quantum's endpoint http://127.0.0.1:1 \(.*Connection"):
        bridge.ibm.probe_endpoint("http://127.0.0.1:1", 2.0)
    assert bridge.ibm.endpoints("https://cloud.ibm.com") == ["https://cloud.ibm.com", "https://iam.cloud.ibm.com"]


def test_the_cli_reports_a_silent_network_in_bounded_time(tmp_path, silent_endpoint):
    profile = tmp_path / "ibm-local.toml"
    profile.write_text(
        f'description = "x"\ndevice = "bridge.qiskit"\ndiff_method = "device"\nshots = 100\n'
        f'[qiskit]\nbackend = "ibm"\n[ibm]\nurl = "{silent_endpoint}"\nconnect_timeout = 1.0\n'
    )
    env = {**os.environ, "QISKIT_IBM_TOKEN": "some-token", "HOME": str(tmp_path)}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "train",
            "mnist01",
            "--device",
            str(profile),
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1 and "did not answer within 1 s" in result.stderr
    assert "credentials" not in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 60  # interpreter start-up included; the probe itself waits 1 s


class _Refusing:
    """The account service answering as qiskit-ibm-runtime does, with or without a network failure behind it."""

    def __init__(self, network: bool):
        self.network = network

    def __call__(self, **kwargs):
        from qiskit_ibm_runtime.accounts.exceptions import InvalidAccountError

        try:
            if self.network:
                raise requests.ConnectionError("Max retries exceeded (Failed to resolve 'iam.cloud.ibm.com')")
            raise requests.HTTPError("400 Client Error: Bad Request (Provided API key could not be found)")
        except requests.RequestException as cause:
            raise InvalidAccountError(
                "Unable to retrieve instances. Please check that you are using a valid API token."
            ) from cause


@pytest.mark.parametrize(
    ("network", "error", "message"),
    [
        (True, NetworkError, r"could not be reached while opening the account \(ConnectionError: Max retries"),
        (False, CredentialsError, r"IBM Quantum rejected the credentials \(InvalidAccountError"),
    ],
)
def test_credentials_are_blamed_only_on_an_authentication_answer(monkeypatch, network, error, message):
    import qiskit_ibm_runtime

    monkeypatch.setenv("QISKIT_IBM_TOKEN", "some-token")
    monkeypatch.setattr(bridge.ibm, "check_reachable", lambda url, timeout: None)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", _Refusing(network))
    with pytest.raises(error, match=message):
        bridge.ibm.runtime_service(IBMOptions())


def test_a_programming_error_inside_the_service_is_not_called_a_credentials_problem(monkeypatch):
    import qiskit_ibm_runtime

    def broken(**kwargs):
        raise AttributeError("'NoneType' object has no attribute 'group'")

    monkeypatch.setenv("QISKIT_IBM_TOKEN", "some-token")
    monkeypatch.setattr(bridge.ibm, "check_reachable", lambda url, timeout: None)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", broken)
    with pytest.raises(AttributeError):
        bridge.ibm.runtime_service(IBMOptions())
