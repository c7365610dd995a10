"""Where Aer's cost per PUB row goes (issue #26): one W3 training step (4 qubits, RX embedding + 2 strongly
entangling layers, gradients for the weights) at batch 256 is 12,544 rows (49 a sample). The bridge sends them to Aer
stacked, several rows to an experiment (``bridge.qiskit.stacking``); those runs are captured and replayed on one
thread as sent, then unstacked (one row per experiment, as before #26) with one thing changed at a time, then on
all cores as threads, then as sent in one process per core at once (each process the whole set): the ceiling of
what splitting a job's rows over worker processes (``bridge.qiskit.workers``) can gain on this machine.

    python benchmarks/aer_rows.py [--batch 256] [--repeats 3] [--json benchmarks/aer_rows.json] [--write-docs]

Columns: µs per row of the whole ``AerSimulator.run(...).result()``; of it, Aer's own reported time (``time_taken``:
converting the circuits for Aer, the C++ simulation, saving, building its output), ``Result.from_dict`` (Python
objects from Aer's output) and the rest (submitting, converting the output to Python).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.quantum_info import Pauli
from qiskit.result import Result
from qiskit_aer import AerSimulator
from run import training_step

from bridge.qiskit.cores import thread_budget

from report import current_commit, git, write_block


def capture(batch: int) -> list[tuple[list[QuantumCircuit], list[dict], dict[str, Any]]]:
    """The circuits, parameter binds and run options of each Aer run of one W3 step (after a warm-up step)."""
    step = training_step("bridge-1process", 4, batch, inputs_trainable=False)  # runs in this process, spied here
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


def unstacked(runs: list) -> list:
    """The captured stacked runs as one row per experiment: row ``j`` of a stacked experiment's segment template
    (its gates up to the first ``set_statevector``, parameters ``_row0[i]``) with the values of ``_row{j}[i]``,
    saving what segment 0 saves (labels without ``@0``)."""
    out = []
    for circuits, binds, options in runs:
        bare_circuits, bare_binds = [], []
        for circuit, bind in zip(circuits, binds, strict=True):
            template = circuit.copy_empty_like()
            saves = []
            for instruction in circuit.data:
                name = instruction.operation.name
                if name == "set_statevector":
                    break
                if name.startswith("save_"):
                    saves.append(instruction)
                else:
                    template.append(instruction)
            for instruction in saves:
                save = instruction.operation.copy()
                save.label = save.label.rpartition("@")[0] or save.label
                template.append(save, instruction.qubits, instruction.clbits)
            segments = 1 + sum(i.operation.name == "set_statevector" for i in circuit.data)
            by_name = {p.name: values for p, values in bind.items()}
            columns = sorted(template.parameters, key=lambda p: p.name)
            bare_binds.append(
                {
                    p: np.concatenate(
                        [np.asarray(by_name[p.name.replace("_row0", f"_row{j}", 1)]) for j in range(segments)]
                    )
                    for p in columns
                }
            )
            bare_circuits.append(template)
        out.append((bare_circuits, bare_binds, options))
    return out


def resaved(circuits: list[QuantumCircuit], save: str | None) -> list[QuantumCircuit]:
    """The circuits with their save instructions replaced by ``save``: ``"probabilities"``, ``"statevector"``,
    ``"expectations"`` (⟨Z⟩ of each qubit, one save per Pauli term: the exact path before #26) or ``None``."""
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
        elif save == "expectations":
            n = bare.num_qubits
            for q in range(n):
                label = "I" * (n - 1 - q) + "Z" + "I" * q
                bare.save_expectation_value(Pauli(label), qubits=range(n), label=label)
        out.append(bare)
    return out


def timed(runs: list[tuple[list[QuantumCircuit], list[dict], dict[str, Any]]], repeats: int, threads: int = 1) -> dict:
    """Median over ``repeats`` of the step's Aer runs, one after another, and their parts, in seconds."""
    simulator = AerSimulator(method="statevector")
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
                parallel = {"max_parallel_threads": threads, "max_parallel_experiments": threads}
                result = simulator.run(circuits, parameter_binds=binds, **{**options, **parallel}).result()
                total += time.perf_counter() - started
                if not result.success:
                    raise SystemExit(f"Aer failed: {result.status}")
                aer += float(result.time_taken)
                rows += sum(
                    len(next(iter(b.values()))) * (1 + sum(i.operation.name == "set_statevector" for i in c.data))
                    for c, b in zip(circuits, binds, strict=True)
                )
            samples.append(
                {"total": total, "aer_reported": aer, "from_dict": sum(spent), "rows": rows, "runs": len(runs)}
            )
    finally:
        Result.from_dict = classmethod(from_dict)  # type: ignore[method-assign]
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


_CONCURRENT = """
import json, pickle, sys
import aer_rows
runs = pickle.loads(open(sys.argv[1], "rb").read())
aer_rows.timed(runs, 1)
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(aer_rows.timed(runs, int(sys.argv[2]))), flush=True)
"""


def in_processes(runs: list, processes: int, repeats: int) -> list[dict]:
    """:func:`timed` of the whole ``runs`` on one thread in each of ``processes`` processes at once: each runs
    them once, then all start together. Nothing is shared between them, so each one's time against one process
    alone is what the machine's cores give to processes running Aer side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.pickle"
        path.write_bytes(pickle.dumps(runs))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _CONCURRENT, str(path), str(repeats)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(processes)
        ]
        try:
            for child in children:
                if child.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                    raise SystemExit(f"a concurrent Aer process failed (exit {child.wait()})")
            for child in children:
                child.stdin.write("go\n")  # type: ignore[union-attr]
                child.stdin.flush()  # type: ignore[union-attr]
            return [json.loads(child.communicate()[0]) for child in children]
        finally:
            for child in children:
                child.kill() if child.poll() is None else None


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
    alone = unstacked(runs)
    variants = {
        "as the bridge sends it: rows stacked, probabilities saved": (runs, 1),
        "one row per experiment, probabilities saved": (_varied(alone, "probabilities"), 1),
        "one row per experiment, one expectation value per Pauli term (the exact path before #26)": (
            _varied(alone, "expectations"),
            1,
        ),
        "one row per experiment, state vector saved": (_varied(alone, "statevector"), 1),
        "one row per experiment, nothing saved (simulation only)": (_varied(alone, None), 1),
        "one row per experiment, probabilities, gate fusion off": (
            _varied(alone, "probabilities", fusion_enable=False),
            1,
        ),
        f"as the bridge sends it, on all {thread_budget()} cores as threads in one process (`workers = 1`)": (
            runs,
            thread_budget(),
        ),
    }
    rows = []
    for name, (varied, threads) in variants.items():
        t = timed(varied, args.repeats, threads)
        rows.append({"variant": name, **t})
        print(f"{name}: {t['total'] / t['rows'] * 1e6:.1f} µs per row", file=sys.stderr, flush=True)
    cores = thread_budget()
    side_by_side = in_processes(runs, cores, args.repeats)
    for i, t in enumerate(side_by_side):
        rows.append({"variant": f"as the bridge sends it, one thread, process {i + 1} of {cores} at once", **t})
        print(f"{rows[-1]['variant']}: {t['total'] / t['rows'] * 1e6:.1f} µs per row", file=sys.stderr, flush=True)
    slowdown = statistics.mean(t["total"] for t in side_by_side) / rows[0]["total"]
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
    lines += [
        "",
        f"{cores} processes running Aer side by side each take {slowdown:.2f}× the time of one alone: splitting a "
        f"job's rows over {cores} worker processes gains at most {cores / slowdown:.2f}× on this machine, before "
        "the device's own serial work (the shift rule's tapes, stacking, reading results).",
    ]
    text = "\n".join(lines)
    print(text)
    command = "python benchmarks/aer_rows.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    report = {
        "commit": commit,
        "command": command,
        "batch": args.batch,
        "step_seconds": step_seconds,
        "rows": rows,
        "side_by_side_slowdown": slowdown,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    if args.write_docs:
        write_block("aer-rows-table", commit, command, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
