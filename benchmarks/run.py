"""Benchmarks of the engines that run a hybrid training step: prints a table and writes JSON.

    python benchmarks/run.py                         # W1, W2, W3, every engine, 3 repeats
    python benchmarks/run.py --workloads W1 --json benchmarks/results.json

Workloads (seconds are medians of ``--repeats`` runs; memory is the peak resident-set growth during them):

* W1: one training step (forward + backward, gradients for the 24 weights and the 16×4 inputs), 4 qubits,
  RX angle embedding + 2 strongly entangling layers, ⟨Z_i⟩ on every wire, batch 16;
* W2: one epoch of the textbook MNIST 0-vs-1 network (200 images), batch size 1 and 32;
* W3: the W1 step at 2…12 qubits (batch 16) and at batch 1…256 (4 qubits);
* MEM: resident memory and the device's compiled-circuit cache after each of 5 epochs of W2 (batch size
  1, ``bridge``): flat memory means the cache stays within its bound.

Engines: ``bridge`` (this project's batched device, profile ``aer``), ``aer-stock`` (unmodified
pennylane-qiskit ``qiskit.aer``), ``default-ps`` (default.qubit, parameter-shift), ``default-bp``
(default.qubit, backprop), ``lightning-adj`` (lightning.qubit, adjoint), ``reference`` (the
PennyLane-free Qiskit + torch.autograd implementation, ``bridge.reference``), ``textbook`` (one
``AerSimulator.run`` per circuit with the shift rule by hand, as the Qiskit textbook does). Slow engines
stop a sweep once one run exceeds ``--budget`` seconds; skipped cells say so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import torch

from bridge import QuantumLayer, circuits, load_profile

ENGINES = ("bridge", "aer-stock", "default-ps", "default-bp", "lightning-adj", "reference", "textbook")


def _profile(engine: str):
    base = {
        "bridge": "aer",
        "aer-stock": "aer-stock",
        "default-ps": "default",
        "default-bp": "default",
        "lightning-adj": "lightning",
    }[engine]
    method = {"default-bp": "backprop", "lightning-adj": "adjoint"}.get(engine)
    prof = load_profile(base)
    return dataclasses.replace(prof, diff_method=method) if method else prof


class PeakMemory:
    """Peak growth of this process's resident set (MiB) while the block runs, sampled every 2 ms."""

    def __enter__(self) -> PeakMemory:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.mib = (self.peak - self.start) / 2**20


# ------------------------------------------------------------------ the textbook-style engine
class TextbookStep:
    """One ``AerSimulator.run`` per circuit (transpiled each time) and the shift rule written by hand."""

    def __init__(self, n_qubits: int, n_layers: int = 2) -> None:
        from qiskit import QuantumCircuit
        from qiskit.circuit import ParameterVector
        from qiskit_aer import AerSimulator

        self.sim = AerSimulator(method="statevector")
        self.x = ParameterVector("x", n_qubits)
        self.w = ParameterVector("w", n_layers * n_qubits * 3)
        qc = QuantumCircuit(n_qubits)
        for i in range(n_qubits):
            qc.rx(self.x[i], i)
        k = 0
        for layer in range(n_layers):
            for i in range(n_qubits):
                qc.rz(self.w[k], i)
                qc.ry(self.w[k + 1], i)
                qc.rz(self.w[k + 2], i)
                k += 3
            r = layer % (n_qubits - 1) + 1 if n_qubits > 1 else 0
            for i in range(n_qubits if n_qubits > 1 else 0):
                qc.cx(i, (i + r) % n_qubits)
        self.circuit = qc
        self.n = n_qubits

    def expectations(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        from qiskit import transpile
        from qiskit.quantum_info import Pauli

        bound = self.circuit.assign_parameters(dict(zip(self.x, x, strict=True)) | dict(zip(self.w, w, strict=True)))
        for i in range(self.n):
            label = "".join("Z" if q == i else "I" for q in reversed(range(self.n)))
            bound.save_expectation_value(Pauli(label), range(self.n), label=f"z{i}")
        data = self.sim.run(transpile(bound, self.sim)).result().data(0)
        return np.array([data[f"z{i}"] for i in range(self.n)])

    def step(self, x: np.ndarray, w: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients of Σ upstream·⟨Z⟩ for inputs ``(batch, n)`` and weights; one circuit per run."""
        gx, gw = np.zeros_like(x), np.zeros_like(w)
        for b in range(len(x)):
            self.expectations(x[b], w)
            for i in range(self.n):
                plus, minus = x[b].copy(), x[b].copy()
                plus[i] += np.pi / 2
                minus[i] -= np.pi / 2
                gx[b, i] = upstream[b] @ (self.expectations(plus, w) - self.expectations(minus, w)) / 2
            for k in range(len(w)):
                plus, minus = w.copy(), w.copy()
                plus[k] += np.pi / 2
                minus[k] -= np.pi / 2
                gw[k] += upstream[b] @ (self.expectations(x[b], plus) - self.expectations(x[b], minus)) / 2
        return gx, gw


# ------------------------------------------------------------------ workloads
def training_step(engine: str, n_qubits: int, batch: int) -> Callable[[], None]:
    """A callable running one forward + backward of the W1 model."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, n_qubits, generator=gen)
    if engine == "textbook":
        model = TextbookStep(n_qubits)
        w = np.random.default_rng(0).uniform(0, 2 * np.pi, 2 * n_qubits * 3)
        return lambda: model.step(x.numpy().astype(float), w, np.ones((batch, n_qubits)))
    torch.manual_seed(0)
    if engine == "reference":
        from bridge.reference import ReferenceLayer, ReferenceQNN
        from bridge.reference.models import angle_entangling

        m = angle_entangling(n_qubits, 2)
        layer = ReferenceLayer(ReferenceQNN(m.circuit, m.inputs, m.weights, list(m.observables)))
    else:
        layer = QuantumLayer(circuits.angle_entangling(n_qubits, 2), profile=_profile(engine))

    def run() -> None:
        xi = x.clone().requires_grad_(True)
        layer(xi).sum().backward()

    return run


def mnist_epoch(engine: str, batch_size: int) -> Callable[[], None]:
    """A callable training the textbook MNIST 0-vs-1 network for one epoch (200 images)."""
    from torch.utils.data import DataLoader

    from bridge.data import load_split
    from bridge.models import TextbookHybridNet

    train = load_split("MNIST", train=True, classes=(0, 1), per_class=100)
    if engine == "textbook":
        model = _TextbookMnist()
    elif engine == "reference":
        from bridge.models import ReferenceTextbookNet

        torch.manual_seed(0)
        model = ReferenceTextbookNet()
    else:
        torch.manual_seed(0)
        model = TextbookHybridNet(_profile(engine))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run() -> None:
        for images, labels in DataLoader(
            train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
        ):
            optimizer.zero_grad()
            torch.nn.functional.nll_loss(model(images), labels).backward()
            optimizer.step()

    run.model = model
    return run


class _TextbookHybrid(torch.autograd.Function):
    """The textbook's H·RY(θ) layer: one AerSimulator.run per circuit, shift rule by hand (with the ½)."""

    @staticmethod
    def forward(ctx, theta, runner):
        ctx.runner = runner
        ctx.save_for_backward(theta)
        return torch.tensor([[runner(float(t))] for t in theta[:, 0]], dtype=theta.dtype)

    @staticmethod
    def backward(ctx, grad):
        (theta,) = ctx.saved_tensors
        d = [(ctx.runner(float(t) + np.pi / 2) - ctx.runner(float(t) - np.pi / 2)) / 2 for t in theta[:, 0]]
        return grad * torch.tensor(d, dtype=grad.dtype)[:, None], None


class _TextbookMnist(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from qiskit import QuantumCircuit, transpile
        from qiskit.circuit import Parameter
        from qiskit.quantum_info import Pauli
        from qiskit_aer import AerSimulator

        from bridge.models import TextbookFeatures

        torch.manual_seed(0)
        self.features = TextbookFeatures(1)
        theta = Parameter("θ")
        circuit = QuantumCircuit(1)
        circuit.h(0)
        circuit.ry(theta, 0)
        circuit.save_expectation_value(Pauli("Z"), [0], label="z")
        sim = AerSimulator(method="statevector")
        self.runner = lambda t: sim.run(transpile(circuit.assign_parameters({theta: t}), sim)).result().data(0)["z"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = _TextbookHybrid.apply(self.features(images), self.runner)
        p1 = (1 - z) / 2
        return torch.log(torch.cat([1 - p1, p1], dim=1).clamp_min(1e-12))


def memory_over_epochs(epochs: int = 5) -> dict:
    """RSS (MiB) and compiled structures held by the device after each training epoch."""
    run = mnist_epoch("bridge", 1)
    device = run.model.quantum.qlayer.qnode.device
    process = psutil.Process()
    rss, cache = [], []
    for _ in range(epochs):
        run()
        rss.append(round(process.memory_info().rss / 2**20, 1))
        cache.append(len(device.compiler))
    return {"rss_mib_after_epoch": rss, "cached_structures_after_epoch": cache, "cache_bound": device.cache_size}


# ------------------------------------------------------------------ measurement
def measure(make: Callable[[], Callable[[], None]], repeats: int, budget: float) -> dict:
    run = make()
    times = []
    with PeakMemory() as memory:
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
            if times[-1] > budget:
                break
    return {"seconds": statistics.median(times), "repeats": len(times), "peak_mib": round(memory.mib, 1)}


def cells(workloads: list[str]) -> list[tuple[str, str, dict, Callable]]:
    out = []
    if "W1" in workloads:
        out.append(("W1", "4q batch 16", {"qubits": 4, "batch": 16}, lambda e: lambda: training_step(e, 4, 16)))
    if "W2" in workloads:
        for bs in (1, 32):
            out.append(("W2", f"epoch bs {bs}", {"batch_size": bs}, lambda e, bs=bs: lambda: mnist_epoch(e, bs)))
    if "W3" in workloads:
        for q in (2, 4, 6, 8, 10, 12):
            out.append(
                (
                    "W3-qubits",
                    f"{q}q batch 16",
                    {"qubits": q, "batch": 16},
                    lambda e, q=q: lambda: training_step(e, q, 16),
                )
            )
        for b in (1, 4, 16, 64, 256):
            out.append(
                ("W3-batch", f"4q batch {b}", {"qubits": 4, "batch": b}, lambda e, b=b: lambda: training_step(e, 4, b))
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3,MEM")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds: a slower run ends the engine's repeats and its sweep"
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes only, to check that every engine runs")
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    rows = []
    over_budget: set[tuple[str, str]] = set()
    selected = cells(args.workloads.split(","))
    if args.smoke:
        selected = [
            c for c in selected if c[2].get("qubits", 2) == 2 or c[2].get("batch") == 1 or c[2].get("batch_size") == 32
        ]
    for workload, label, params, make in selected:
        row = {"workload": workload, "case": label, **params, "engines": {}}
        for engine in engines:
            if (workload, engine) in over_budget:
                row["engines"][engine] = {"skipped": f"an earlier {workload} run took over {args.budget:.0f} s"}
                continue
            result = measure(make(engine), args.repeats, args.budget)
            if result["seconds"] > args.budget and workload.startswith("W3"):
                over_budget.add((workload, engine))
            row["engines"][engine] = result
            print(
                f"{workload:10s} {label:14s} {engine:14s} {result['seconds']:9.3f} s  "
                f"(x{result['repeats']}, +{result['peak_mib']} MiB)",
                file=sys.stderr,
                flush=True,
            )
        base = row["engines"].get("bridge", {}).get("seconds")
        for result in row["engines"].values():
            if base and "seconds" in result:
                result["ratio_to_bridge"] = round(result["seconds"] / base, 2)
        rows.append(row)
    if "MEM" in args.workloads.split(","):
        memory = memory_over_epochs()
        print(
            f"MEM: RSS after each epoch {memory['rss_mib_after_epoch']} MiB, cached structures "
            f"{memory['cached_structures_after_epoch']} (bound {memory['cache_bound']})",
            file=sys.stderr,
        )
    else:
        memory = None
    report = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "repeats": args.repeats,
        "rows": rows,
        "memory": memory,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    _print_table(rows, engines)
    return 0


def _print_table(rows: list[dict], engines: list[str]) -> None:
    print("| workload | case | " + " | ".join(engines) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in engines) + " |")
    for row in rows:
        cells_ = []
        for engine in engines:
            r = row["engines"].get(engine, {})
            if "seconds" in r:
                ratio = f" ({r['ratio_to_bridge']}×)" if "ratio_to_bridge" in r and engine != "bridge" else ""
                cells_.append(f"{r['seconds']:.3g} s{ratio}")
            else:
                cells_.append("skipped")
        print(f"| {row['workload']} | {row['case']} | " + " | ".join(cells_) + " |")


if __name__ == "__main__":
    sys.exit(main())
