"""An exact job's rows on several cores: worker processes, each with its own ideal ``AerSimulator``.

Aer's cost per row (setting up an experiment, building its result) is serial inside one process, and separate
processes scale further than Aer's threads do (``benchmarks/run.py`` compares the engines ``bridge``, workers, and
``bridge-1process``, threads in one process). A :class:`WorkerPool` runs a job's rows in ``workers`` processes
(``python -m bridge.qiskit.worker``, no ``multiprocessing``: a user's script is never imported again), each started
once and kept, holding the prepared circuits it has been sent (each circuit crosses once; a job sends its
parameter rows and gets the saved values back as arrays).

Each PUB's rows are cut into contiguous parts of whole stacked experiments (the rows per experiment of the whole
PUB, :func:`~bridge.qiskit.stacking.rows_per_experiment`), so every experiment is the one the device's own process
would have run: the values are the same whatever the number of workers. Only exact runs of the ideal simulator go
to workers (state vectors, expectation values, and the probabilities ``aer-shots`` draws its shots from in the
device's process); sampled and noisy runs stay in the device's process.

A worker that stops (killed, out of memory) is an :class:`~bridge.exceptions.ExecutionError` naming it and its exit
status, raised as soon as its output ends: never a hang. The pool is then closed; the next job starts new workers.
"""

from __future__ import annotations

import atexit
import copy
import os
import pickle
import signal
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from bridge.exceptions import ExecutionError
from bridge.qiskit import primitives, stacking

# A job goes to the workers from this many rows (measured, benchmarks/run.py: W3 at 4 qubits, batch 4 sends 228
# rows, 5 ms in one process, where a round trip to two workers costs about 1 ms); fewer run in the device's process.
MIN_ROWS = 256
CIRCUITS_KEPT = 256  # prepared circuits each worker keeps (as the device's compile cache)


def _signal_name(code: int) -> str:
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


class PoolJob:
    """What :func:`bridge.qiskit.retry.run_job` waits on: the exchange with the workers happens in :meth:`result`."""

    def __init__(self, pool: WorkerPool, pubs: Sequence[primitives.Pub], options: dict[str, Any]) -> None:
        self.pool, self.pubs, self.options = pool, pubs, options

    def job_id(self) -> str:
        return f"on {self.pool.size} worker processes"

    def result(self) -> primitives.Saved:
        return self.pool.saved_rows(self.pubs, self.options)


class WorkerPool:
    """``workers`` processes running an ideal ``AerSimulator`` (a copy of ``simulator`` with ``threads`` threads
    each), started on the first job.

    Args:
        simulator: the device's ideal Aer simulator (CPU).
        workers: processes, ≥ 2.
        threads: Aer threads in each process.
    """

    def __init__(self, simulator: Any, workers: int, threads: int = 1) -> None:
        if workers < 2:
            raise ValueError("a worker pool has at least two workers; one runs in the device's process")
        self.size = workers
        self._simulator = _for_workers(simulator, threads)
        self._processes: list[subprocess.Popen[bytes]] = []
        self._tokens: OrderedDict[int, tuple[Any, int]] = OrderedDict()  # id(circuit) → (circuit, token)
        self._next_token = 0
        self._held: list[set[int]] = []  # per worker: the tokens it holds
        self._forget: list[list[int]] = []  # per worker: tokens to drop with its next request

    @property
    def pids(self) -> list[int]:
        """The running workers' process ids (empty before the first job and after :meth:`close`)."""
        return [p.pid for p in self._processes]

    def submit(self, pubs: Sequence[primitives.Pub], options: dict[str, Any]) -> PoolJob:
        """A job for :func:`~bridge.qiskit.retry.run_job`: ``pubs`` (prepared with
        :func:`~bridge.qiskit.primitives.prepare_exact`) run by the workers with Aer run ``options``."""
        return PoolJob(self, pubs, options)

    def saved_rows(self, pubs: Sequence[primitives.Pub], options: dict[str, Any]) -> primitives.Saved:
        """What :func:`~bridge.qiskit.primitives.saved_rows` returns for ``pubs``, their rows run by the workers.

        Raises:
            ExecutionError: a worker stopped (named, with its exit status) or failed to run its rows.
        """
        if not self._processes:
            self._start()
        # per worker: its parts (token, values, rows per experiment) and where each part's rows belong
        parts: list[list[tuple[int, np.ndarray, int]]] = [[] for _ in range(self.size)]
        owners: list[list[tuple[int, int]]] = [[] for _ in pubs]  # per PUB: (worker, its part's place)
        for index, pub in enumerate(pubs):
            token = self._token(pub.circuit)
            if pub.values.shape[1] == 0:  # parameter-free: one experiment for every row
                owners[index].append((0, len(parts[0])))
                parts[0].append((token, pub.values, 1))
                continue
            k = stacking.rows_per_experiment(pub.circuit.num_qubits, pub.rows)
            experiments = -(-pub.rows // k)
            chunk = -(-experiments // self.size) * k  # rows per worker: whole experiments
            for worker, start in enumerate(range(0, pub.rows, chunk)):
                owners[index].append((worker, len(parts[worker])))
                parts[worker].append((token, pub.values[start : start + chunk], k))
        requests = {}
        for worker, own in enumerate(parts):
            if not own:
                continue
            needed = {token for token, _, _ in own} - self._held[worker]
            new = {token: circuit for circuit, token in self._tokens.values() if token in needed}
            requests[worker] = (self._forget[worker], new, own, options)
            self._held[worker] |= needed
            self._forget[worker] = []
        replies = self._exchange(requests)
        saved: primitives.Saved = []
        for places in owners:
            pieces = [replies[worker][place] for worker, place in places]
            saved.append({label: np.concatenate([p[label] for p in pieces]) for label in pieces[0]})
        return saved

    def close(self) -> None:
        """Stop the workers (each ends at the end of its input; one that does not within 5 s is killed)."""
        processes, self._processes = self._processes, []
        for process in processes:
            if process.stdin:
                try:
                    process.stdin.close()
                except OSError:
                    pass
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()

    def _start(self) -> None:
        env = dict(os.environ)
        # a worker imports what this process imports (a source checkout run without installing it included)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [env.get("PYTHONPATH", ""), *sys.path] if p)
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bridge.qiskit.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            for _ in range(self.size)
        ]
        self._held = [set() for _ in range(self.size)]
        self._forget = [[] for _ in range(self.size)]
        for worker in range(self.size):
            self._send(worker, self._simulator)

    def _token(self, circuit: Any) -> int:
        hit = self._tokens.get(id(circuit))
        if hit is not None and hit[0] is circuit:
            self._tokens.move_to_end(id(circuit))
            return hit[1]
        token, self._next_token = self._next_token, self._next_token + 1
        self._tokens[id(circuit)] = (circuit, token)
        if len(self._tokens) > CIRCUITS_KEPT:
            _, (_, dropped) = self._tokens.popitem(last=False)
            for worker, held in enumerate(self._held):
                if dropped in held:
                    held.discard(dropped)
                    self._forget[worker].append(dropped)
        return token

    def _send(self, worker: int, message: Any) -> None:
        process = self._processes[worker]
        assert process.stdin is not None
        try:
            if isinstance(message, bytes):
                process.stdin.write(message)
            else:
                pickle.dump(message, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.flush()
        except OSError:  # its input closed: it stopped
            self._stopped(worker)

    def _exchange(self, requests: dict[int, tuple[Any, ...]]) -> dict[int, list[dict[str, np.ndarray]]]:
        for worker, request in requests.items():
            self._send(worker, request)
        replies = {}
        for worker in requests:
            stdout = self._processes[worker].stdout
            assert stdout is not None
            try:
                replies[worker] = pickle.load(stdout)
            except (EOFError, OSError, pickle.UnpicklingError):  # its output ended: it stopped
                self._stopped(worker)
        for worker, reply in replies.items():
            if reply[0] != "ok":
                _, kind, message = reply
                if kind == "JobError":  # Aer's failed result: transient, retried like one in this process
                    from qiskit.providers import JobError

                    raise JobError(f"worker {worker + 1} of {self.size}: {message}")
                raise ExecutionError(f"worker {worker + 1} of {self.size} could not run its rows: {kind}: {message}")
        return {worker: reply[1] for worker, reply in replies.items()}

    def _stopped(self, worker: int) -> None:
        process = self._processes[worker]
        try:
            code = process.wait(timeout=5)
            status = f"exit status {code}" if code >= 0 else _signal_name(code)
        except subprocess.TimeoutExpired:
            status = "its output closed while it still runs"
        self.close()
        raise ExecutionError(
            f"worker {worker + 1} of {self.size} of the bridge.qiskit device (pid {process.pid}) stopped while "
            f"running a job's rows ({status}); its messages are above on standard error. The next job starts new "
            "workers; set the profile's [qiskit] workers = 1 to run every job in this process"
        )


def _for_workers(simulator: Any, threads: int) -> bytes:
    """What each worker runs on, as sent to it: a pickled copy of ``simulator`` with ``threads`` threads."""
    own = copy.deepcopy(simulator)
    own.set_options(max_parallel_threads=threads, max_parallel_experiments=threads)
    return pickle.dumps(own, protocol=pickle.HIGHEST_PROTOCOL)


_pools: dict[tuple[int, bytes], WorkerPool] = {}


def shared_pool(simulator: Any, workers: int, threads: int = 1) -> WorkerPool:
    """The process's pool for this simulator's options, ``workers`` and ``threads`` (devices of the same settings
    share their workers); closed when the process exits or by :func:`close_pools`."""
    key = (workers, _for_workers(simulator, threads))  # the pickled options include the threads
    if key not in _pools:
        _pools[key] = WorkerPool(simulator, workers, threads)
    return _pools[key]


@atexit.register
def close_pools() -> None:
    """Stop every shared pool's workers (a device's next job on one starts new ones)."""
    for pool in _pools.values():
        pool.close()
