"""Benchmarks of the engines that run a hybrid training step: prints tables and writes JSON.

    python benchmarks/run.py                        # every workload, 3 repeats (about 30 minutes here)
    python benchmarks/run.py --workloads W3,JOBS    # a part
    pip install -c constraints.txt -e ".[verify]"    # for the qiskit-ml engine (qiskit-machine-learning)

Workloads (seconds are medians of ``--repeats`` runs after one untimed warm-up run, the engines of a row taking
turns run by run; one thread per process where the engine allows; every row of a table is measured in the same
run, so ratios compare like with like):

* W1: one training step, 4 qubits, RX angle embedding + 2 strongly entangling layers, ⟨Z_i⟩ on every wire,
  batch 16, gradients for the 24 weights and the 16×4 inputs (912 circuits by the shift rule);
* W3: the same step with gradients for the 24 weights only (784 circuits; PennyLane's benchmark), at 2…14 qubits
  (batch 16; at 14 qubits the bridge's engines and default.qubit only) and at batch 1…256 (4 qubits), exact, on
  all cores (worker processes), as threads in one process and on one core; W3-shots: 4 qubits, batch 1…256,
  1024 shots;
* W2: one epoch of the textbook MNIST 0-vs-1 network (200 images) at batch size 1 and 32, and the classical
  network alone (the floor: the same trunk, the circuit replaced by its classical ablation);
* NOISE: one textbook epoch at batch size 1 on ``aer-shots`` and on ``aer-noisy`` (Manila's noise);
* LARGE: the W1 step at batch 1,000 and 4,000 on ``bridge`` (after one small step): seconds and peak memory per
  sample;
* JOBS: primitive jobs of one W1 training step at batch 1, 16 and 64 on each Qiskit profile, counted where they
  reach Aer or the runtime primitives (spies on their ``run``), beside the device's own tracker;
* MEM: resident memory and compiled structures after each of 5 W2 epochs (batch size 1, ``bridge``).

Engines: ``bridge`` (this project's device, profile ``aer``), ``bridge-shots`` (``aer-shots``), ``default-ps``
(default.qubit, parameter-shift) and ``default-ps-shots`` (1024 shots), ``lightning-ps-shots``, ``fast``
(the ``fast`` profile: default.qubit, backprop), ``lightning-adj`` (adjoint), ``reference`` (``bridge.reference``),
``qiskit-ml``
(qiskit-machine-learning's ``EstimatorQNN`` + ``TorchConnector`` on Aer's ``EstimatorV2``), ``aer-stock``
(pennylane-qiskit ``qiskit.aer``) and ``textbook`` (one ``AerSimulator.run`` per circuit, shift rule by hand):
the last two only in W1, where one run takes minutes. An engine whose run exceeds ``--budget`` seconds stops
its sweep; skipped cells say so.
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
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import torch

from bridge import QuantumLayer, circuits, load_profile

from report import current_commit, git, write_block

PROFILES = {
    "bridge": ("aer", None, None),
    "bridge-1core": ("aer", None, None),  # [qiskit] threads = 1 (_profile)
    "bridge-1process": ("aer", None, None),  # [qiskit] workers = 1: all cores as threads in this process (_profile)
    "bridge-shots": ("aer-shots", None, None),
    "default-ps": ("default", None, None),
    "default-ps-shots": ("default", None, 1024),
    "lightning-ps-shots": ("lightning", None, 1024),
    "fast": ("fast", None, None),
    "lightning-adj": ("lightning", "adjoint", None),
    "aer-stock": ("aer-stock", None, None),
}
EXACT = ["bridge", "default-ps", "fast", "lightning-adj", "reference", "qiskit-ml"]
SHOTS = ["bridge-shots", "default-ps-shots", "lightning-ps-shots"]


def _profile(engine: str):
    base, method, shots = PROFILES[engine]
    prof = load_profile(base)
    if engine == "bridge-1core":
        prof = dataclasses.replace(prof, qiskit=dataclasses.replace(prof.qiskit, threads=1))
    if engine == "bridge-1process":
        prof = dataclasses.replace(prof, qiskit=dataclasses.replace(prof.qiskit, workers=1))
    if method:
        prof = dataclasses.replace(prof, diff_method=method)
    return prof.with_shots(shots) if shots else prof


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

        from bridge.app.models import TextbookFeatures

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


# ------------------------------------------------------------------ workloads
def _qiskit_ml_layer(n_qubits: int, input_gradients: bool) -> torch.nn.Module:
    """qiskit-machine-learning's EstimatorQNN + TorchConnector over the same circuit, on Aer's EstimatorV2."""
    from qiskit_aer.primitives import EstimatorV2
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    from bridge.reference.models import angle_entangling

    m = angle_entangling(n_qubits, 2)
    estimator = EstimatorV2()
    qnn = EstimatorQNN(
        circuit=m.circuit,
        observables=list(m.observables),
        input_params=list(m.inputs),
        weight_params=list(m.weights),
        estimator=estimator,
        gradient=ParamShiftEstimatorGradient(estimator),
        default_precision=0.0,  # exact, like the other exact engines (its default, 1/64, samples the forward pass)
        input_gradients=input_gradients,
    )
    return TorchConnector(qnn, initial_weights=np.random.default_rng(0).uniform(0, 2 * np.pi, len(m.weights)))


def training_step(engine: str, n_qubits: int, batch: int, inputs_trainable: bool = True) -> Callable[[], None]:
    """A callable running one forward + backward of the W1 (inputs trainable) or W3 (weights only) model."""
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
        layer: torch.nn.Module = ReferenceLayer(ReferenceQNN(m.circuit, m.inputs, m.weights, list(m.observables)))
    elif engine == "qiskit-ml":
        layer = _qiskit_ml_layer(n_qubits, inputs_trainable)
    else:
        layer = QuantumLayer(circuits.angle_entangling(n_qubits, 2), profile=_profile(engine))

    def run() -> None:
        xi = x.clone().requires_grad_(inputs_trainable)
        layer(xi).sum().backward()

    return run


def mnist_epoch(engine: str, batch_size: int) -> Callable[[], None]:
    """A callable training the textbook MNIST 0-vs-1 network for one epoch (200 images)."""
    from torch.utils.data import DataLoader

    from bridge.app.data import load_split
    from bridge.app.models import ReferenceTextbookNet, TextbookHybridNet

    train = load_split("MNIST", train=True, classes=(0, 1), per_class=100)
    torch.manual_seed(0)
    if engine == "textbook":
        model: torch.nn.Module = _TextbookMnist()
    elif engine == "reference":
        model = ReferenceTextbookNet()
    elif engine == "classical":
        model = TextbookHybridNet(None, classical=True)
    else:
        model = TextbookHybridNet(load_profile(engine) if engine in ("aer-shots", "aer-noisy") else _profile(engine))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run() -> None:
        for images, labels in DataLoader(
            train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
        ):
            optimizer.zero_grad()
            torch.nn.functional.nll_loss(model(images), labels).backward()
            optimizer.step()

    run.model = model  # type: ignore[attr-defined]
    return run


def memory_over_epochs(epochs: int = 5) -> dict:
    """RSS (MiB) and compiled structures held by the device after each training epoch."""
    run = mnist_epoch("bridge", 1)
    device = run.model.quantum.qlayer.qnode.device  # type: ignore[attr-defined]
    process = psutil.Process()
    rss, cache = [], []
    for _ in range(epochs):
        run()
        rss.append(round(process.memory_info().rss / 2**20, 1))
        cache.append(len(device.compiler))
    return {
        "rss_mib_after_epoch": rss,
        "cached_structures_after_epoch": cache,
        "cache_bound": device.compiler.cache_size,
    }


SPIED = {
    "AerSimulator.run": ("qiskit_aer", "AerSimulator"),
    "aer SamplerV2.run": ("qiskit_aer.primitives", "SamplerV2"),
    "runtime EstimatorV2.run": ("qiskit_ibm_runtime", "EstimatorV2"),
    "runtime SamplerV2.run": ("qiskit_ibm_runtime", "SamplerV2"),
}


def jobs_per_step() -> list[dict]:
    """Primitive jobs of one W1 step on each Qiskit profile, counted at Aer and the runtime primitives, all in this
    process (``[qiskit] workers = 1``; tests/qiskit/test_workers.py counts the rows at the workers' Aer)."""
    import importlib

    import pennylane as qml

    counter: Counter[str] = Counter()
    originals = {}
    for name, (module, cls_name) in SPIED.items():
        cls = getattr(importlib.import_module(module), cls_name)
        originals[name] = (cls, cls.run)

        def spy(self, *args, _name=name, _original=cls.run, **kwargs):
            counter[_name] += 1
            return _original(self, *args, **kwargs)

        cls.run = spy
    rows = []
    try:
        for profile in ("aer", "aer-shots", "aer-noisy", "ibm-fake-manila"):
            for batch in (1, 16, 64):
                prof = load_profile(profile)  # in this process, where the spies are (workers' runs: tests/qiskit)
                prof = dataclasses.replace(prof, qiskit=dataclasses.replace(prof.qiskit, workers=1))
                layer = QuantumLayer(circuits.angle_entangling(4, 2), profile=prof)
                x = torch.rand(batch, 4, requires_grad=True)
                counter.clear()
                with qml.Tracker(layer.qlayer.qnode.device) as tracker:
                    layer(x).sum().backward()
                submitted = sum(v for k, v in counter.items() if k != "AerSimulator.run") or counter["AerSimulator.run"]
                rows.append(
                    {
                        "profile": profile,
                        "batch": batch,
                        "jobs_at_backend": submitted,
                        "aer_runs": counter["AerSimulator.run"],
                        "tracker_jobs": int(tracker.totals["primitive_jobs"]),
                        "circuits": int(tracker.totals["pub_rows"]),
                    }
                )
                print(f"JOBS {profile:16s} batch {batch:3d}: {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        for cls, run in originals.values():
            cls.run = run
    return rows


# ------------------------------------------------------------------ measurement
def measure(make: Callable[[], Callable[[], None]], repeats: int, budget: float) -> dict:
    """``repeats`` cold runs of one engine (LARGE: the memory the first run of a large batch takes)."""
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


def measure_in_turns(runs: dict[str, Callable[[], None]], repeats: int, budget: float) -> dict[str, dict]:
    """Each engine's median over ``repeats`` runs after one untimed warm-up run (compiling the structure, starting
    worker processes), the engines taking turns run by run so that the machine's drift hits all of a row alike.
    An engine whose warm-up run took over ``budget`` seconds is measured by that one run; one whose timed run
    did stops its repeats. ``peak_mib``: the largest growth of resident memory during one of its runs."""
    times: dict[str, list[float]] = {engine: [] for engine in runs}
    peaks: dict[str, float] = dict.fromkeys(runs, 0.0)
    done: set[str] = set()

    def once(engine: str) -> float:
        with PeakMemory() as memory:
            started = time.perf_counter()
            runs[engine]()
            seconds = time.perf_counter() - started
        peaks[engine] = max(peaks[engine], memory.mib)
        return seconds

    for engine in runs:
        seconds = once(engine)
        if seconds > budget:
            times[engine].append(seconds)
            done.add(engine)
    for _ in range(repeats):
        for engine in runs:
            if engine not in done:
                times[engine].append(once(engine))
                if times[engine][-1] > budget:
                    done.add(engine)
    return {
        engine: {"seconds": statistics.median(t), "repeats": len(t), "peak_mib": round(peaks[engine], 1)}
        for engine, t in times.items()
    }


def cells(workloads: list[str], engines: list[str]) -> list[tuple]:
    """(workload, case, parameters, engines, maker(engine) -> make) of the chosen workloads."""

    def pick(names: list[str]) -> list[str]:
        return [e for e in names if e in engines]

    out = []
    if "W1" in workloads:
        out.append(
            (
                "W1",
                "4q batch 16",
                {"qubits": 4, "batch": 16},
                pick([*EXACT, *SHOTS, "aer-stock", "textbook"]),
                lambda e: lambda: training_step(e, 4, 16),
            )
        )
    if "W3" in workloads:
        for q in (2, 4, 6, 8, 10, 12, 14):
            out.append(
                (
                    "W3-qubits",
                    f"{q}q batch 16",
                    {"qubits": q, "batch": 16},
                    # 14 qubits: the bridge on all cores and on one, against default.qubit (the others take minutes)
                    pick(
                        ["bridge", "bridge-1core", "bridge-1process", "default-ps"]
                        if q == 14
                        else [*EXACT, "bridge-1core"]
                    ),
                    lambda e, q=q: lambda: training_step(e, q, 16, inputs_trainable=False),
                )
            )
        for b in (1, 4, 16, 64, 256):
            out.append(
                (
                    "W3-batch",
                    f"4q batch {b}",
                    {"qubits": 4, "batch": b},
                    pick([*EXACT, "bridge-1core", "bridge-1process", "bridge-shots"]),
                    lambda e, b=b: lambda: training_step(e, 4, b, inputs_trainable=False),
                )
            )
        for b in (1, 16, 64, 256):
            out.append(
                (
                    "W3-shots",
                    f"4q batch {b}, 1024 shots",
                    {"qubits": 4, "batch": b},
                    pick(SHOTS),
                    lambda e, b=b: lambda: training_step(e, 4, b, inputs_trainable=False),
                )
            )
    if "W2" in workloads:
        for bs in (1, 32):
            out.append(
                (
                    "W2",
                    f"epoch bs {bs}",
                    {"batch_size": bs},
                    # aer-stock (pennylane-qiskit) only at batch size 1, the main job's: about 50 s an epoch
                    pick(["bridge", "default-ps", "fast", "reference", "classical", *["aer-stock"][: bs == 1]]),
                    lambda e, bs=bs: lambda: mnist_epoch(e, bs),
                )
            )
    if "NOISE" in workloads:
        out.append(
            ("NOISE", "epoch bs 1", {"batch_size": 1}, ["aer-shots", "aer-noisy"], lambda e: lambda: mnist_epoch(e, 1))
        )
    if "LARGE" in workloads:
        for b in (1000, 4000):
            out.append(
                (
                    "LARGE",
                    f"4q batch {b}",
                    {"qubits": 4, "batch": b},
                    pick(["bridge"]),
                    lambda e, b=b: lambda: _warm_then(training_step(e, 4, b), e),
                )
            )
    return out


def _warm_then(step: Callable[[], None], engine: str) -> Callable[[], None]:
    """``step``, after one small step of the same circuit in a layer of its own (batch 16): libraries, the
    simulator and the transpiler are loaded before the large step's memory is measured, whichever workloads ran
    before (the first LARGE case otherwise carried them, 91 to 160 KiB per sample from one run to the next)."""
    training_step(engine, 4, 16)()
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W3,W2,NOISE,LARGE,JOBS,MEM")
    parser.add_argument(
        "--engines",
        default=",".join([*EXACT, "bridge-1core", "bridge-1process", *SHOTS, "aer-stock", "textbook", "classical"]),
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds: a slower run ends the engine's repeats and its sweep"
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument("--write-docs", action="store_true", help="write the tables into docs/benchmarks.md")
    args = parser.parse_args(argv)
    commit = current_commit() if args.write_docs else git("rev-parse", "--short=12", "HEAD")
    torch.set_num_threads(1)
    workloads = args.workloads.split(",")
    rows = []
    over_budget: set[tuple[str, str]] = set()
    for workload, label, params, engines, make in cells(workloads, args.engines.split(",")):
        row = {"workload": workload, "case": label, **params, "engines": {}}
        runs: dict[str, Callable[[], None]] = {}
        for engine in engines:
            if (workload, engine) in over_budget:
                row["engines"][engine] = {"skipped": f"an earlier {workload} run took over {args.budget:.0f} s"}
                continue
            try:
                if workload == "LARGE":  # one cold run: the memory a large batch takes the first time
                    row["engines"][engine] = measure(make(engine), 1, args.budget)
                else:
                    runs[engine] = make(engine)()
            except ImportError as e:  # the optional verify extra (qiskit-machine-learning) is not installed
                row["engines"][engine] = {"skipped": f"not installed: {e.name}"}
        row["engines"].update(measure_in_turns(runs, args.repeats, args.budget))
        row["engines"] = {e: row["engines"][e] for e in engines if e in row["engines"]}  # the table's order
        for engine in engines:
            result = row["engines"].get(engine, {})
            if "seconds" not in result:
                continue
            if result["seconds"] > args.budget:
                over_budget.add((workload, engine))
            if workload == "LARGE":
                result["kib_per_sample"] = round(result["peak_mib"] * 1024 / params["batch"], 1)
            print(
                f"{workload:10s} {label:24s} {engine:18s} {result['seconds']:9.3f} s  "
                f"(x{result['repeats']}, +{result['peak_mib']} MiB)",
                file=sys.stderr,
                flush=True,
            )
        first = next((r.get("seconds") for r in row["engines"].values() if "seconds" in r), None)
        for result in row["engines"].values():
            if first and "seconds" in result:
                result["ratio_to_first"] = round(result["seconds"] / first, 2)
        rows.append(row)
    jobs = jobs_per_step() if "JOBS" in workloads else None
    memory = memory_over_epochs() if "MEM" in workloads else None
    if memory:
        print(
            f"MEM: RSS after each epoch {memory['rss_mib_after_epoch']} MiB, cached structures "
            f"{memory['cached_structures_after_epoch']} (bound {memory['cache_bound']})",
            file=sys.stderr,
        )
    report = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": 1,
        },
        "repeats": args.repeats,
        "rows": rows,
        "jobs": jobs,
        "memory": memory,
    }
    command = "python benchmarks/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    report["commit"], report["command"] = commit, command
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    text = tables(rows, jobs, memory)
    print(text)
    if args.write_docs:
        write_block("benchmark-tables", commit, command, text)
    return 0


def tables(rows: list[dict], jobs: list[dict] | None, memory: dict | None = None) -> str:
    """Markdown: one table per workload (time, ratio to the first engine), the job counts and the memory line."""
    out: list[str] = []
    print_ = out.append
    for workload in dict.fromkeys(r["workload"] for r in rows):
        group = [r for r in rows if r["workload"] == workload]
        engines = list(dict.fromkeys(e for r in group for e in r["engines"]))
        if not engines:  # every engine of the workload left out by --engines
            continue
        print_(f"\n{workload} (ratio: time / the first engine's)\n\n| case | " + " | ".join(engines) + " |")
        print_("| --- | " + " | ".join("---:" for _ in engines) + " |")
        for row in group:
            cells_ = []
            for engine in engines:
                r = row["engines"].get(engine, {})
                if "seconds" in r:
                    extra = f" ({r['ratio_to_first']}×)" if r.get("ratio_to_first") not in (None, 1.0) else ""
                    if "kib_per_sample" in r:
                        extra += f", {r['kib_per_sample']} KiB/sample"
                    cells_.append(f"{r['seconds']:.3g} s{extra}")
                else:
                    cells_.append("skipped")
            print_(f"| {row['case']} | " + " | ".join(cells_) + " |")
    if jobs:
        print_("\nJOBS (primitive jobs of one W1 training step)\n")
        print_("| profile | batch | jobs at the backend | Aer runs | tracker | circuits |")
        print_("| --- | ---: | ---: | ---: | ---: | ---: |")
        for j in jobs:
            print_(
                f"| {j['profile']} | {j['batch']} | {j['jobs_at_backend']} | {j['aer_runs']} | {j['tracker_jobs']} | "
                f"{j['circuits']} |"
            )
    if memory:
        print_(
            f"\nMEM: resident memory after each of {len(memory['rss_mib_after_epoch'])} W2 epochs "
            f"{memory['rss_mib_after_epoch']} MiB; compiled structures held {memory['cached_structures_after_epoch']} "
            f"(bound {memory['cache_bound']})."
        )
    targets = target_table(rows, jobs, memory)
    if targets:
        print_("\nTargets of issues #10 and #26 on this run (ratio: the first engine's time / the other's)\n")
        print_(targets)
    return "\n".join(out)


def _seconds(rows: list[dict], workload: str, case: str, engine: str) -> float | None:
    for row in rows:
        if row["workload"] == workload and row["case"] == case:
            return row["engines"].get(engine, {}).get("seconds")
    return None


def target_table(rows: list[dict], jobs: list[dict] | None, memory: dict | None) -> str:
    """Issues #10's and #26's targets checked on this run's rows: ``| target | measured | met |``, one line per
    target whose cells were measured."""
    lines = []

    def ratios(workload: str, cases: list[str], mine: str, other: str) -> list[tuple[str, float]]:
        found = []
        for case in cases:
            a, b = _seconds(rows, workload, case, mine), _seconds(rows, workload, case, other)
            if a and b:
                found.append((case.split(" batch")[0] if workload == "W3-qubits" else case, a / b))
        return found

    def line(target: str, pairs: list[tuple[str, float]], ok: Callable[[float], bool], form: str = "{:.2f}×") -> None:
        if pairs:
            measured = ", ".join(f"{name} {form.format(v)}" for name, v in pairs)
            misses = [name for name, v in pairs if not ok(v)]
            lines.append(f"| {target} | {measured} | {'yes' if not misses else '**no**: ' + ', '.join(misses)} |")

    if jobs:
        counts = sorted({j["jobs_at_backend"] for j in jobs})
        where = ", ".join(sorted({j["profile"] for j in jobs}))
        batches = ", ".join(str(b) for b in sorted({j["batch"] for j in jobs}))
        met = "yes" if counts == [1] else "**no**"
        lines.append(
            f"| jobs per training step: 1 on every Qiskit profile | {counts} at the backend ({where}; batch "
            f"{batches}) | {met} |"
        )
    qubits = [f"{q}q batch 16" for q in (2, 4, 6, 8, 10, 12, 14)]
    line(
        "W3 exact, weights only: ≤ 0.7× `default-ps`",
        ratios("W3-qubits", qubits, "bridge", "default-ps"),
        lambda v: v <= 0.7,
    )
    batches = [f"4q batch {b}" for b in (1, 4, 16, 64, 256)]
    shots = [f"4q batch {b}, 1024 shots" for b in (1, 16, 64, 256)]
    # (target, workload, cases, engine, the engine it is compared with, the largest ratio allowed)
    at_most = [
        ("#26: W3 exact ≤ 1.0× `default-ps` at batch 64", "W3-batch", ["4q batch 64"], "bridge", "default-ps", 1.0),
        ("#26: W3 exact ≤ 2.0× `default-ps` at batch 256", "W3-batch", ["4q batch 256"], "bridge", "default-ps", 2.0),
        ("#26: W3 at 1024 shots ≤ 1.0× `default-ps-shots` at every batch", "W3-shots", shots, "bridge-shots",
         "default-ps-shots", 1.0),
        ("#26: W3 exact ≤ 1.0× the bridge's 1024 shots at every batch", "W3-batch", batches, "bridge", "bridge-shots",
         1.0),
        ("#26: 12 and 14 qubits (batch 16) ≤ 0.5× `default-ps`", "W3-qubits", ["12q batch 16", "14q batch 16"],
         "bridge", "default-ps", 0.5),
        ("#26: the main job's epoch (batch size 1) ≤ 2× its classical network", "W2", ["epoch bs 1"], "bridge",
         "classical", 2.0),
        ("textbook epoch at batch 32: ≤ 4× the classical network", "W2", ["epoch bs 32"], "bridge", "classical", 4.0),
        ("`aer-noisy` epoch ≤ 2× the `aer-shots` epoch", "NOISE", ["epoch bs 1"], "aer-noisy", "aer-shots", 2.0),
    ]  # fmt: skip
    for target, workload, cases, mine, other, most in at_most:
        line(target, ratios(workload, cases, mine, other), lambda v, most=most: v <= most)
    one_core = ratios("W3-batch", ["4q batch 256"], "bridge-1core", "bridge") + ratios(
        "W3-qubits", ["14q batch 16"], "bridge-1core", "bridge"
    )
    line("#26: all cores ≥ 1.7× faster than one (batch 256; 14 qubits)", one_core, lambda v: v >= 1.7, "{:.2f}×")
    # at 4 qubits, where Aer's threads scale least (14 qubits, where threads share each row's state: reported)
    processes = ratios("W3-batch", ["4q batch 256"], "bridge-1process", "bridge")
    line(
        "#26: all cores in worker processes ≥ 1.0× as fast as threads in one process (4 qubits, batch 256)",
        processes,
        lambda v: v >= 1.0,
        "{:.2f}×",
    )
    stock = [(name, 1 / v) for name, v in ratios("W2", ["epoch bs 1"], "bridge", "aer-stock")]
    line("#26: `aer` epoch at batch size 1 ≥ 25× faster than `aer-stock`", stock, lambda v: v >= 25, "{:.1f}× faster")
    faster = [(name, 1 / v) for name, v in ratios("W3-qubits", qubits, "bridge", "qiskit-ml")]
    line("≥ 60× faster than qiskit-ml's `TorchConnector` on W3", faster, lambda v: v >= 60, "{:.0f}× faster")
    per_sample = []
    for row in rows:
        result = row["engines"].get("bridge", {})
        if row["workload"] == "LARGE" and "kib_per_sample" in result:
            per_sample.append((row["case"], result["kib_per_sample"] * 1.024))
    line("large batches: ≤ 100 kB per sample", per_sample, lambda v: v <= 100, "{:.0f} kB")
    if memory:
        rss = memory["rss_mib_after_epoch"]
        grew = max(rss) - min(rss)
        lines.append(
            f"| memory flat over epochs | RSS {min(rss)}–{max(rss)} MiB over {len(rss)} epochs | "
            f"{'yes' if grew <= 0.05 * min(rss) else '**no**'} |"
        )
    if not lines:
        return ""
    return "| target | measured | met |\n| --- | --- | --- |\n" + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
