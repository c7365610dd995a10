"""Where Aer's cost per PUB row goes (issue #26): one W3 training step (4 qubits, RX embedding + 2 strongly
entangling layers, gradients for the weights) at batch 256 is 12,544 rows (49 a sample), which the bridge sends
to Aer in runs of at most 4,096 experiments; those runs are captured and replayed alone, whole and with one
thing changed at a time, one thread.

    python benchmarks/aer_rows.py [--batch 256] [--repeats 3] [--json benchmarks/aer_rows.json] [--write-docs]

Columns: µs per row of the whole ``AerSimulator.run(...).result()``; of it, Aer's own reported time (the C++
controller, ``Result.time_taken``: simulation, saving, building its output), ``Result.from_dict`` (Python objects
from Aer's output) and the rest (submitting, converting the output to Python).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from qiskit import QuantumCircuit
from qiskit.result import Result
from qiskit_aer import AerSimulator
from run import training_step

from report import current_commit, git, write_block


def capture(batch: int) -> list[tuple[list[QuantumCircuit], list[dict], dict[str, Any]]]:
    """The circuits, parameter binds and run options of each Aer run of one W3 step (after a warm-up step)."""
    step = training_step("bridge", 4, batch, inputs_trainable=False)
    step()  # compiles the structure
    seen: list[tuple] = []
    original = AerSimulator.run

    def spy(self, circuits, **kwargs):
        seen.append((list(circuits), dict(kwargs)))
        return original(self, circuits, **kwargs)

    AerSimulator.run = spy
    try:
        step()
    finally:
        AerSimulator.run = original
    return [(circuits, kwargs.pop("parameter_binds"), kwargs) for circuits, kwargs in seen]


def resaved(circuits: list[QuantumCircuit], save: str | None) -> list[QuantumCircuit]:
    """The circuits with their save instructions replaced by ``save`` (``None``: nothing saved)."""
    out = []
    for circuit in circuits:
        bare = circuit.copy_empty_like()
        for instruction in circuit.data:
            if not instruction.operation.name.startswith("save_"):
                bare.append(instruction)
        if save == "probabilities":
            bare.save_probabilities()
        elif save == "statevector":
            bare.save_statevector()
        out.append(bare)
    return out


def timed(runs: list[tuple[list[QuantumCircuit], list[dict], dict[str, Any]]], repeats: int) -> dict:
    """Median over ``repeats`` of the step's Aer runs, one after another, and their parts, in seconds."""
    simulator = AerSimulator(method="statevector", max_parallel_threads=1)
    from_dict = Result.from_dict.__func__  # type: ignore[attr-defined]
    spent: list[float] = []

    def timed_from_dict(cls, data):
        started = time.perf_counter()
        try:
            return from_dict(cls, data)
        finally:
            spent.append(time.perf_counter() - started)

    samples = []
    Result.from_dict = classmethod(timed_from_dict)  # type: ignore[method-assign]
    try:
        for _ in range(repeats):
            spent.clear()
            total = aer = 0.0
            rows = 0
            for circuits, binds, options in runs:
                started = time.perf_counter()
                result = simulator.run(circuits, parameter_binds=binds, **options).result()
                total += time.perf_counter() - started
                if not result.success:
                    raise SystemExit(f"Aer failed: {result.status}")
                aer += float(result.time_taken)
                rows += len(result.results)
            samples.append(
                {"total": total, "aer_reported": aer, "from_dict": sum(spent), "rows": rows, "runs": len(runs)}
            )
    finally:
        Result.from_dict = classmethod(from_dict)  # type: ignore[method-assign]
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def _varied(runs: list, save: str | None = None, **extra: Any) -> list:
    """The runs with their saves replaced (``save``, see :func:`resaved`) and ``extra`` run options."""
    return [
        (circuits if save == "as sent" else resaved(circuits, save), binds, {**options, **extra})
        for circuits, binds, options in runs
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/aer_rows.json"))
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    commit = current_commit() if args.write_docs else git("rev-parse", "--short=12", "HEAD")
    torch.set_num_threads(1)
    runs = capture(args.batch)
    step = training_step("bridge", 4, args.batch, inputs_trainable=False)
    step()
    started = time.perf_counter()
    for _ in range(args.repeats):
        step()
    step_seconds = (time.perf_counter() - started) / args.repeats
    variants = {
        "as the bridge sends it (one expectation value saved per Pauli term)": _varied(runs, "as sent"),
        "probabilities saved instead": _varied(runs, "probabilities"),
        "state vector saved instead": _varied(runs, "statevector"),
        "nothing saved (simulation only)": _varied(runs, None),
        "as sent, gate fusion off": _varied(runs, "as sent", fusion_enable=False),
        "as sent, 2 threads, 2 parallel experiments": _varied(
            runs, "as sent", max_parallel_threads=2, max_parallel_experiments=2
        ),
    }
    rows = []
    for name, varied in variants.items():
        t = timed(varied, args.repeats)
        rows.append({"variant": name, **t})
        print(f"{name}: {t['total'] / t['rows'] * 1e6:.1f} µs per row", file=sys.stderr, flush=True)
    n = rows[0]["rows"]
    lines = [
        f"W3 step, 4 qubits, batch {args.batch}: {n:,} rows in {rows[0]['runs']} Aer run(s); the whole training step "
        f"{step_seconds:.3f} s = {step_seconds / n * 1e6:.1f} µs per row.",
        "",
        "| Aer run | µs per row | Aer's own (C++) | `Result.from_dict` | the rest (Python) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        rest = r["total"] - r["aer_reported"] - r["from_dict"]
        lines.append(
            f"| {r['variant']} | {r['total'] / n * 1e6:.1f} | {r['aer_reported'] / n * 1e6:.1f} | "
            f"{r['from_dict'] / n * 1e6:.1f} | {rest / n * 1e6:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    command = "python benchmarks/aer_rows.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    report = {"commit": commit, "command": command, "batch": args.batch, "step_seconds": step_seconds, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    if args.write_docs:
        write_block("aer-rows-table", commit, command, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
