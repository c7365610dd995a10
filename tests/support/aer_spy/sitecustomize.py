"""Counts every ``AerSimulator.run`` of a process started with this folder on ``PYTHONPATH`` (the device's worker
processes, :mod:`bridge.qiskit.workers`) into the file ``$BRIDGE_TEST_AER_SPY``: one JSON line per run, with the
parameter rows it carries, the quantities it saves (``aer_run_rows`` here) and the run's thread option. The real
method still runs. Without that variable, nothing is changed."""

import os

if os.environ.get("BRIDGE_TEST_AER_SPY"):
    import json

    from aer_run_rows import rows_of_run, saves_of_run
    from qiskit_aer import AerSimulator

    _original = AerSimulator.run

    def _spy(self, circuits, **kwargs):
        rows = rows_of_run(circuits, kwargs.get("parameter_binds"))
        threads = self.options.get("max_parallel_threads")
        line = {"pid": os.getpid(), "rows": rows, "saves": saves_of_run(circuits), "threads": threads}
        with open(os.environ["BRIDGE_TEST_AER_SPY"], "a") as f:
            f.write(json.dumps(line) + "\n")
        return _original(self, circuits, **kwargs)

    AerSimulator.run = _spy
