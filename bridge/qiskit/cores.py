"""How many cores a ``bridge.qiskit`` device's Aer runs may use: this process's share of the machine.

The cores this process may run on (its CPU affinity) are shared among the processes ``torchrun`` starts on the
machine (``LOCAL_WORLD_SIZE``): local rank ``r`` of ``L`` gets every ``L``-th of them from the ``r``-th on, so the
ranks' shares are disjoint and together cover the machine. A profile's ``[qiskit] threads`` (or the device's
``threads=``) replaces the share's size. Aer runs a job's experiments (and, from 14 qubits, a state's amplitudes) on
that many threads, within ``OMP_NUM_THREADS`` when it is set (``torchrun`` sets it to 1 unless you set it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def available_cores() -> list[int]:
    """The CPUs this process may run on, in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS): every core counts
        return list(range(os.cpu_count() or 1))


def core_share(environ: Mapping[str, str] | None = None, cores: list[int] | None = None) -> list[int]:
    """This process's share of ``cores`` (default :func:`available_cores`): all of them, or under ``torchrun``
    (``LOCAL_RANK`` of ``LOCAL_WORLD_SIZE``) every ``LOCAL_WORLD_SIZE``-th from the ``LOCAL_RANK``-th on; at least
    one core (more ranks than cores share them round-robin)."""
    environ = os.environ if environ is None else environ
    cores = available_cores() if cores is None else cores
    try:
        size = max(1, int(environ.get("LOCAL_WORLD_SIZE", "1")))
        rank = int(environ.get("LOCAL_RANK", "0")) % size
    except ValueError:
        size, rank = 1, 0
    return cores[rank::size] or [cores[rank % len(cores)]]


def thread_budget(requested: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Threads for this process's Aer runs: ``requested`` when given, else the size of :func:`core_share`."""
    return requested if requested is not None else len(core_share(environ))
