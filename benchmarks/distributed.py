"""Samples per second of DistributedDataParallel training on 1 and 2 ranks (torchrun, gloo): a table and JSON.

    python benchmarks/distributed.py                  # both workloads, 1 and 2 ranks (about 3 minutes here)
    python benchmarks/distributed.py --ranks 1,2,4    # more ranks (on a machine with the cores)

Workloads, each trained with Adam under ``DistributedDataParallel`` exactly as ``bridge.app.train.fit`` does (one
process per rank, started by ``torch.distributed.run``; each rank its own ``bridge.qiskit`` device on exact
``aer``):

* mnist10: the ten-digit hybrid network (trunk → 4 angles → 4-qubit circuit → 10 values), batch 16 per rank;
* W3: the 4-qubit RX embedding + 2 strongly entangling layers, batch 16 per rank, weights trained.

Each rank times ``--steps`` optimizer steps after 2 warm-up steps; samples per second is ``ranks × batch × steps``
over the slowest rank's seconds (the ranks wait for each other in every all-reduce). The speed-up is measured
against the 1-rank row of the same run. On a machine with fewer cores than ranks, the ranks share cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 16


def _worker(workload: str, steps: int, out: Path) -> None:
    import torch
    import torch.distributed as dist
    from torch import nn

    from bridge import QuantumLayer, circuits, load_profile
    from bridge.app.distributed import rank_seed, world

    w = world()
    torch.manual_seed(0)
    profile = load_profile("aer").with_seed(rank_seed(1234, w.rank))
    if workload == "mnist10":
        from bridge.app.data import load_split
        from bridge.app.models import TenDigitHybridNet

        model: nn.Module = TenDigitHybridNet(profile)
        data = load_split("MNIST", train=True, classes=tuple(range(10)), per_class=40)
        images = torch.stack([data[i][0] for i in range(len(data))])
        labels = torch.tensor([data[i][1] for i in range(len(data))])
    else:
        model = QuantumLayer(circuits.angle_entangling(4, 2), profile=profile)
        images, labels = torch.rand(400, 4), torch.randn(400, 4)
    ddp = nn.parallel.DistributedDataParallel(model) if w.distributed else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i: int) -> None:
        rows = [(w.rank * BATCH + (i * w.size * BATCH) + k) % len(images) for k in range(BATCH)]
        optimizer.zero_grad()
        out = ddp(images[rows])
        loss = (
            nn.functional.nll_loss(out, labels[rows]) if workload == "mnist10" else ((out - labels[rows]) ** 2).mean()
        )
        loss.backward()
        optimizer.step()

    for i in range(2):
        step(i)
    if w.distributed:
        dist.barrier()
    start = time.perf_counter()
    for i in range(steps):
        step(i + 2)
    seconds = time.perf_counter() - start
    if w.distributed:
        gathered: list = [None] * w.size
        dist.all_gather_object(gathered, seconds)
        seconds = max(gathered)
        dist.destroy_process_group()
    if w.rank == 0:
        out.write_text(json.dumps({"seconds": seconds}))


def _measure(workload: str, ranks: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        script = [str(Path(__file__).resolve()), "--worker", workload, "--steps", str(steps), "--out", str(out)]
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
        command = [*launch, *script] if ranks > 1 else [sys.executable, *script]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            raise SystemExit(f"{workload} on {ranks} rank(s) failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--workloads", default="mnist10,W3")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/distributed.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.steps, args.out)
        return 0
    rows = []
    for workload in args.workloads.split(","):
        base = None
        for ranks in (int(r) for r in args.ranks.split(",")):
            seconds = _measure(workload, ranks, args.steps)
            rate = ranks * BATCH * args.steps / seconds
            base = base or rate
            rows.append(
                {
                    "workload": workload,
                    "ranks": ranks,
                    "batch_per_rank": BATCH,
                    "steps": args.steps,
                    "seconds": round(seconds, 3),
                    "samples_per_s": round(rate, 1),
                    "speedup": round(rate / base, 2),
                }
            )
    print("| workload | ranks | batch per rank | steps | seconds | samples/s | speed-up vs 1 rank |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['workload']} | {r['ranks']} | {r['batch_per_rank']} | {r['steps']} | {r['seconds']} | "
            f"{r['samples_per_s']} | {r['speedup']}× |"
        )
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
