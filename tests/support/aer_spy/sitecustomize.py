"""Counts every ``AerSimulator.run`` of a process started with this folder on ``PYTHONPATH`` (the device's worker
processes, :mod:`bridge.qiskit.workers`) into the file ``$BRIDGE_TEST_AER_SPY``: one JSON line per run, with the
parameter rows it carries (:func:`tests.support.aer_rows`'s count) and the run's thread option. The real method
still runs. Without that variable, nothing is changed."""

import os

if os.environ.get("BRIDGE_TEST_AER_SPY"):
    import json

    from qiskit_aer import AerSimulator

    _original = AerSimulator.run

    def _spy(self, circuits, **kwargs):
        circuits_ = circuits if isinstance(circuits, list) else [circuits]
        rows = sum(
            len(next(iter(b.values()))) * (1 + sum(i.operation.name == "set_statevector" for i in c.data))
            for c, b in zip(circuits_, kwargs.get("parameter_binds") or [], strict=True)
        )
        line = {"pid": os.getpid(), "rows": rows, "threads": self.options.get("max_parallel_threads")}
        with open(os.environ["BRIDGE_TEST_AER_SPY"], "a") as f:
            f.write(json.dumps(line) + "\n")
        return _original(self, circuits, **kwargs)

    AerSimulator.run = _spy
