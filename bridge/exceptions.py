"""Exceptions raised by qml-bridge.

Every error a user can cause derives from :class:`BridgeError`, so a program (and the CLI, which turns
them into one line on stderr and exit code 2) can catch them all. A message says what was received,
what was expected, and how to fix it.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base class of every error qml-bridge raises on purpose."""


class ProfileError(BridgeError):
    """A device profile is unknown, malformed, or inconsistent."""


class WiresError(BridgeError):
    """A circuit has more wires than the backend has qubits."""


class CredentialsError(BridgeError):
    """IBM Quantum credentials are missing, or IBM's authentication service rejected them."""


class NetworkError(BridgeError):
    """IBM Quantum's endpoints could not be reached, or did not answer in time."""


class InputError(BridgeError, ValueError):
    """A tensor or argument given to a layer or a loader has the wrong shape, dtype or values."""


class DataError(BridgeError):
    """A dataset folder is missing files or holds files that are not valid IDX data."""


class ExecutionError(BridgeError):
    """A primitive job kept failing after its retries (the message names the job id)."""


class RankFailure(BridgeError):
    """Another process of a ``torchrun`` run failed or was stopped; this one stops too, its last checkpoint intact."""
