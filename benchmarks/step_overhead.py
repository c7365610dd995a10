"""Where a batch-size-1 training step's time goes (issue #26): one epoch of the main job's network (the textbook
MNIST 0-vs-1 hybrid, 200 images, batch size 1, profile ``aer``) against the same epoch of its classical ablation,
with the device's own calls timed from outside (wrapped, not changed).

    python benchmarks/step_overhead.py [--repeats 3] [--json benchmarks/step_overhead.json] [--write-docs]

Rows, seconds per epoch (medians): the hybrid epoch; of it, the device's ``execute_and_compute_derivatives`` (its one
job per step) and, inside that, the Aer runs (``AerSimulator.run`` until its result is read, in the device's
process); the classical epoch. What the hybrid adds to the classical epoch is split into Aer, the device's
work around Aer (batching, shift plan, reading results) and the rest (PennyLane's workflow, ``TorchLayer``,
autograd of the extra nodes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from run import mnist_epoch

from bridge.qiskit.device import QiskitBatchDevice
from bridge.qiskit.runner import Runner

from report import current_commit, git, write_block


def _timed(owner: Any, name: str, spent: dict[str, float], key: str) -> Callable[[], None]:
    """Wrap ``owner.name`` to add its wall time to ``spent[key]`` and count its calls in ``spent[key + " calls"]``;
    returns the undo."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - started
            spent[f"{key} calls"] = spent.get(f"{key} calls", 0) + 1

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/step_overhead.json"))
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    commit = current_commit() if args.write_docs else git("rev-parse", "--short=12", "HEAD")
    torch.set_num_threads(1)
    hybrid, classical = mnist_epoch("bridge", 1), mnist_epoch("classical", 1)
    hybrid(), classical()  # warm-up: compiles the structure
    samples: list[dict[str, float]] = []
    for _ in range(args.repeats):
        spent: dict[str, float] = {}
        undo = [
            _timed(QiskitBatchDevice, "execute_and_compute_derivatives", spent, "device"),
            # an Aer run from its submission until its result is read (the runner's job, retries included)
            _timed(Runner, "_run_job", spent, "aer"),
        ]
        try:
            started = time.perf_counter()
            hybrid()
            spent["hybrid"] = time.perf_counter() - started
        finally:
            for u in undo:
                u()
        started = time.perf_counter()
        classical()
        spent["classical"] = time.perf_counter() - started
        samples.append(spent)
    m = {key: statistics.median(s.get(key, 0.0) for s in samples) for key in samples[0]}
    added = m["hybrid"] - m["classical"]
    rows = [
        ("hybrid epoch (bridge, `aer`)", m["hybrid"]),
        ("classical ablation epoch", m["classical"]),
        ("added by the circuit", added),
        (f"… Aer runs ({int(m['aer calls'])}, until their results are read)", m["aer"]),
        ("… the device's work around them", m["device"] - m["aer"]),
        ("… PennyLane's workflow, `TorchLayer`, autograd", added - m["device"]),
    ]
    lines = ["| part | s per epoch | ms per step | share of what the circuit adds |", "| --- | ---: | ---: | ---: |"]
    for name, seconds in rows:
        share = f"{seconds / added:.0%}" if name.startswith("…") else ""
        lines.append(f"| {name} | {seconds:.3f} | {seconds / 200 * 1e3:.2f} | {share} |")
    lines.append(f"\nhybrid / classical: {m['hybrid'] / m['classical']:.2f}×")
    text = "\n".join(lines)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/step_overhead.py" + (" " + " ".join(given)).rstrip()
    report = {"commit": commit, "command": command, "repeats": args.repeats, "medians": m, "rows": dict(rows)}
    args.json.write_text(json.dumps(report, indent=2))
    if args.write_docs:
        write_block("step-overhead-table", commit, command, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
