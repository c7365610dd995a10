"""How many parameter rows one ``AerSimulator.run`` carries: one experiment per row of bindings, each running as
many rows as its circuit has stacked segments (one, and one more after each ``set_statevector``). Shared by the
spies in this process (tests/qiskit/test_job_counts.py) and in the worker processes (``sitecustomize.py`` here)."""


def rows_of_run(circuits, parameter_binds) -> int:
    circuits = circuits if isinstance(circuits, list) else [circuits]
    return sum(
        len(next(iter(b.values()))) * (1 + sum(i.operation.name == "set_statevector" for i in c.data))
        for c, b in zip(circuits, parameter_binds or [], strict=True)
    )
