"""The command line's argument parser: every sub-command's options, their types and help (:mod:`bridge.app.validate`
checks the values)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from bridge.app import validate
from bridge.profiles import DEFAULT_PROFILE, ENV_VAR


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad option reported in one line (and the --help hint) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from bridge import __version__
    from bridge.app.registry import EXAMPLES

    parser = _Parser(prog="qml-bridge", description="Train hybrid quantum-classical PyTorch models on any backend")
    parser.add_argument("--version", action="version", version=f"qml-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    devices = commands.add_parser("devices", help="list the device profiles")
    devices.add_argument("--json", action="store_true", help="print JSON instead of a table")

    train = commands.add_parser("train", help="train an example")
    train.add_argument("example", choices=sorted(EXAMPLES), help="which example")
    run = train.add_argument_group("run", "what is trained, and how")
    data = train.add_argument_group("data")
    device = train.add_argument_group("device", "where the circuits and the tensors run")
    output = train.add_argument_group("output", "the run's folder: metrics, figures, checkpoints")
    tracking = train.add_argument_group("tracking", "experiment trackers (pip install 'qml-bridge[tracking]')")
    preview = train.add_argument_group("preview", "the cost of a run, before running it")
    device.add_argument(
        "--device",
        type=validate.profile_name,
        default=None,
        help=f"profile name or TOML path (default: ${ENV_VAR} or {DEFAULT_PROFILE!r})",
    )
    run.add_argument("--epochs", type=validate.positive, default=None, help="epochs (default: the example's)")
    device.add_argument(
        "--shots",
        type=validate.shots,
        default=argparse.SUPPRESS,
        help="override the profile's shots: a positive integer or 'exact'",
    )
    run.add_argument(
        "--seed",
        type=validate.seed,
        default=None,
        help="seed of weights, dropout and data order (default 0), and of the simulator (default: the profile's)",
    )
    run.add_argument(
        "--batch-size", type=validate.positive, default=None, help="images per step (default: the example's)"
    )
    output.add_argument("--out", type=Path, default=None, help="output folder (default: runs/EXAMPLE)")
    data.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="dataset root in torchvision's layout, tested on its full test split (default: the embedded subset)",
    )
    output.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    output.add_argument(
        "--overwrite", action="store_true", help="start over in an OUT that holds an earlier run's checkpoint"
    )
    output.add_argument(
        "--checkpoint-every",
        type=validate.positive,
        default=0,
        metavar="STEPS",
        help="also checkpoint every STEPS optimizer steps (default: after each epoch and on Ctrl-C)",
    )
    output.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tracking.add_argument(
        "--tracking",
        action="append",
        type=validate.tracking,
        default=None,
        metavar="{csv,tensorboard,mlflow}",
        help="log the run to OUT/metrics.csv, TensorBoard (OUT/tensorboard) or MLflow ($MLFLOW_TRACKING_URI, else "
        "OUT/mlruns); repeatable; tensorboard and mlflow need: pip install 'qml-bridge[tracking]'",
    )
    run.add_argument(
        "--classical",
        action="store_true",
        help="replace the quantum layer by a classical layer of the same shapes (the ablation)",
    )
    device.add_argument(
        "--torch-device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where the model's tensors live: cpu (default; gloo under torchrun) or cuda (each process its own GPU; "
        "NCCL under torchrun); the circuits run where the profile says",
    )
    preview.add_argument(
        "--dry-run",
        action="store_true",
        help="print the jobs, circuits and shots the run would need, run no circuit, and exit",
    )
    preview.add_argument(
        "--nproc",
        type=validate.positive,
        default=None,
        metavar="N",
        help="with --dry-run: preview a torchrun run on N processes (per-rank and total counts)",
    )
    verify = commands.add_parser("verify", help="check values and gradients across frameworks")
    verify.add_argument(
        "--device",
        action="append",
        type=validate.profile_name,
        default=None,
        help="profile to verify (repeatable; default: default, lightning, aer, aer-shots)",
    )
    verify.add_argument(
        "--random", type=validate.nonnegative, default=50, help="seeded random circuits besides the library"
    )
    verify.add_argument(
        "--seed", type=validate.seed, default=0, help="seed of circuits, inputs, weights and cotangents"
    )
    verify.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    verify.add_argument(
        "--model",
        default=None,
        metavar="FILE.py:NAME",
        help="verify your own model instead of the library: a QuantumLayer, a qml.qnn.TorchLayer, any torch module "
        "(each quantum layer in it), a QNode (with --weight-shape) or a zero-argument function returning one; FILE is "
        "imported, so its code runs (profiles default: default, aer, aer-shots). Exit 0: all pass, 1: a comparison "
        "failed, 2: the verification could not run",
    )
    verify.add_argument(
        "--against",
        action="append",
        choices=["qiskit-ml"],
        default=[],
        help="with --model: also compare qiskit-machine-learning's EstimatorQNN + TorchConnector (extra 'verify')",
    )
    verify.add_argument(
        "--tolerance", type=float, default=None, help="with --model: a tighter exact tolerance than 1e-8"
    )
    verify.add_argument(
        "--n-inputs",
        type=validate.positive,
        default=None,
        help="with --model: the inputs' size, if it cannot be inferred",
    )
    verify.add_argument(
        "--weight-shape",
        action="append",
        default=[],
        metavar="NAME=D1,D2",
        help="with --model naming a QNode: a trainable argument's shape (repeatable), e.g. weights=2,3",
    )
    verify.add_argument(
        "--batch",
        type=validate.positive,
        default=3,
        help="with --model: inputs per evaluation (at most 1024; each row costs every engine an evaluation and its "
        "gradient)",
    )
    return parser
