"""What one ``AerSimulator.run`` carries, read from its arguments: the parameter rows it runs and the quantities its
circuits save. Shared by the spies in this process (tests/qiskit/test_job_counts.py) and in the worker processes
(``sitecustomize.py`` here)."""


def rows_of_run(circuits, parameter_binds) -> int:
    """One experiment per row of bindings, each running as many rows as its circuit has stacked segments (one, and
    one more after each ``set_statevector``)."""
    circuits = circuits if isinstance(circuits, list) else [circuits]
    return sum(
        len(next(iter(b.values()))) * (1 + sum(i.operation.name == "set_statevector" for i in c.data))
        for c, b in zip(circuits, parameter_binds or [], strict=True)
    )


def saves_of_run(circuits) -> list[str]:
    """The save instructions of the run's circuits (``save_probabilities``, ``save_statevector``, …), sorted."""
    circuits = circuits if isinstance(circuits, list) else [circuits]
    return sorted({i.operation.name for c in circuits for i in c.data if i.operation.name.startswith("save_")})
