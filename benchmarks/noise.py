"""How far device noise moves a trained classifier: accuracy and gradients on noisy profiles vs exact.

    python benchmarks/noise.py                      # prints a table, writes benchmarks/noise.json

The Qiskit textbook's MNIST 0-vs-1 network is trained once on the exact ``aer`` profile (the main job's
settings). Its weights are then loaded into the same network on each profile, which reports

* the test accuracy on the 200 embedded test images, and
* the gradient of the NLL loss of 16 fixed training images with respect to every parameter: its relative
  distance ‖g − g_exact‖ / ‖g_exact‖ and its cosine similarity with the exact gradient.

Shot noise alone (``aer-shots``) is the baseline for the device-noise rows. Readout mitigation: the
runtime's ``resilience_level`` (TREX) cannot be measured here, because qiskit-ibm-runtime's local mode
ignores it (it warns "The resilience_level option has no effect in local testing mode"); the row
``ibm-fake-manila +resilience 1`` shows that, and on hardware the same profile key applies it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from bridge.app.data import load_split
from bridge.app.models import TextbookHybridNet
from bridge.app.registry import get_task
from bridge.app.train import TrainConfig, evaluate, train_task
from bridge.profiles import load_profile

from report import current_commit, git, write_block

PROFILES = ("aer", "aer-shots", "aer-noisy", "aer-noisy:brisbane", "ibm-fake-manila", "ibm-fake-brisbane")


def _with_resilience(name: str, level: int):
    prof = load_profile(name)
    ibm = dataclasses.replace(prof.ibm, options={**prof.ibm.options, "resilience_level": level})
    return dataclasses.replace(prof, ibm=ibm, name=f"{name} +resilience {level}")


def gradient(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss gradient with respect to every parameter, flattened (dropout off)."""
    model.eval()
    model.zero_grad()
    F.nll_loss(model(images), labels).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=get_task("mnist01").epochs)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/noise.json"))
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    commit = current_commit() if args.write_docs else git("rev-parse", "--short=12", "HEAD")
    warnings.filterwarnings("ignore", message=".*no effect in local testing mode")

    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(profile=load_profile("aer"), epochs=args.epochs, seed=0, out=Path(out), progress=False)
        trained = train_task(get_task("mnist01"), config)
        state = torch.load(Path(out) / "checkpoint.pt", weights_only=True)["modules"]["model"]
    test = load_split("MNIST", train=False, classes=(0, 1), per_class=100)
    train = load_split("MNIST", train=True, classes=(0, 1), per_class=100)
    picks = range(0, len(train), len(train) // 16)
    images = torch.stack([train[i][0] for i in picks])
    labels = torch.tensor([train[i][1] for i in picks])

    rows, exact = [], None
    for profile in [load_profile(p) for p in PROFILES] + [_with_resilience("ibm-fake-manila", 1)]:
        started = time.perf_counter()
        model = TextbookHybridNet(profile)
        model.load_state_dict(state)
        accuracy = evaluate(model, test, progress=False)[0]
        grad = gradient(model, images, labels)
        exact = grad if exact is None else exact
        rows.append(
            {
                "profile": profile.name,
                "shots": profile.shots,
                "test_accuracy": accuracy,
                "gradient_relative_distance": float((grad - exact).norm() / exact.norm()),
                "gradient_cosine": float(F.cosine_similarity(grad, exact, dim=0)),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(f"{profile.name}: accuracy {accuracy:.3f}", file=sys.stderr, flush=True)

    command = "python benchmarks/noise.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"commit": commit, "command": command, "trained_on": "aer", "train_metrics": trained, "rows": rows}
    args.json.write_text(json.dumps(report, indent=2))
    lines = [
        "| profile | shots | test accuracy | gradient ‖g − g_exact‖/‖g_exact‖ | cosine to exact | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| `{r['profile']}` | {r['shots'] or 'exact'} | {r['test_accuracy']:.3f} | "
            f"{r['gradient_relative_distance']:.3f} | {r['gradient_cosine']:.4f} | {r['seconds']} |"
        )
    print("\n".join(lines))
    if args.write_docs:
        write_block("noise-table", commit, command, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
