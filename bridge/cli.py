"""The ``qml-bridge`` command (also ``python -m bridge``).

Errors a user can cause (:class:`~bridge.exceptions.BridgeError`) print one line on stderr and exit
with code 2, without a traceback; a backend whose jobs keep failing (:class:`~bridge.exceptions.ExecutionError`)
exits with code 1, and an interrupted run with 130, each leaving a checkpoint to resume from.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge.exceptions import BridgeError, ExecutionError, NetworkError
from bridge.profiles import DEFAULT_PROFILE, ENV_VAR, Profile, list_profiles, load_profile


def _shots(text: str) -> int | None:
    if text.lower() in ("exact", "none"):
        return None
    return _positive(text, "shots must be a positive integer or 'exact'")


def _positive(text: str, what: str = "expected a positive integer") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{what}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from bridge.examples import EXAMPLES

    parser = argparse.ArgumentParser(prog="qml-bridge", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    devices = commands.add_parser("devices", help="list the device profiles")
    devices.add_argument("--json", action="store_true", help="print JSON instead of a table")

    train = commands.add_parser("train", help="train an example")
    train.add_argument("example", choices=sorted(EXAMPLES), help="which example")
    train.add_argument(
        "--device", default=None, help=f"profile name or TOML path (default: ${ENV_VAR} or {DEFAULT_PROFILE!r})"
    )
    train.add_argument("--epochs", type=_positive, default=None, help="epochs (default: the example's)")
    train.add_argument(
        "--shots",
        type=_shots,
        default=argparse.SUPPRESS,
        help="override the profile's shots: a positive integer or 'exact'",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of weights, dropout, data order and simulator")
    train.add_argument("--batch-size", type=_positive, default=None, help="images per step (default: the example's)")
    train.add_argument("--out", type=Path, default=None, help="output folder (default: runs/EXAMPLE)")
    train.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="dataset root in torchvision's layout, tested on its full test split (default: the embedded subset)",
    )
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument(
        "--checkpoint-every",
        type=_positive,
        default=0,
        metavar="STEPS",
        help="also checkpoint every STEPS optimizer steps (default: after each epoch and on Ctrl-C)",
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument(
        "--classical",
        action="store_true",
        help="replace the quantum layer by a classical layer of the same shapes (the ablation)",
    )
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="print the jobs, circuits and shots the run would need, run no circuit, and exit",
    )
    verify = commands.add_parser("verify", help="check values and gradients across frameworks")
    verify.add_argument(
        "--device",
        action="append",
        default=None,
        help="profile to verify (repeatable; default: default, lightning, aer, aer-shots)",
    )
    verify.add_argument("--random", type=int, default=50, help="seeded random circuits besides the library")
    verify.add_argument("--seed", type=int, default=0, help="seed of circuits, inputs, weights and cotangents")
    verify.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    return parser


def _cmd_verify(args: argparse.Namespace) -> int:
    from bridge.verify import DEFAULT_PROFILES, TABLE_HEADER, format_row, run_verification

    print(TABLE_HEADER, flush=True)
    rows = run_verification(
        args.device or DEFAULT_PROFILES,
        random_count=args.random,
        seed=args.seed,
        json_path=args.json,
        progress=lambda row: print(format_row(row), flush=True),
    )
    failed = [r for r in rows if not r.passed]
    if failed:
        print(f"verification FAILED: {len(failed)} of {len(rows)} comparisons out of tolerance")
    else:
        print(f"verification: all {len(rows)} comparisons within tolerance")
    return 1 if failed else 0


def _cmd_devices(args: argparse.Namespace) -> int:
    profiles = list_profiles()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": p.name,
                        "device": p.device,
                        "shots": p.shots,
                        "diff_method": p.diff_method,
                        "description": p.description,
                    }
                    for p in profiles
                ],
                indent=2,
            )
        )
        return 0
    width = max(len(p.name) for p in profiles)
    for p in profiles:
        shots = "exact" if p.exact else f"{p.shots} shots"
        print(f"{p.name:<{width}}  {p.device:<16} {shots:<11} {p.description}")
    return 0


def _describe(profile: Profile) -> str:
    """``profile 'aer' [bridge.qiskit, exact]``: the profile, its device and its shots, for messages."""
    return f"profile {profile.name!r} [{profile.device}, {'exact' if profile.exact else f'{profile.shots} shots'}]"


def _cmd_train(args: argparse.Namespace) -> int:
    from bridge.examples import get_example

    example = get_example(args.example)
    profile = load_profile(args.device).with_seed(args.seed)
    if profile.needs_ibm_account and not args.dry_run:
        from bridge.ibm import check_credentials

        check_credentials()
    if hasattr(args, "shots"):
        profile = profile.with_shots(args.shots)
    from bridge.train import TrainConfig

    config = TrainConfig(
        profile=profile,
        epochs=args.epochs or example.epochs,
        seed=args.seed,
        batch_size=args.batch_size or example.batch_size,
        out=args.out or Path("runs") / example.name,
        data_root=args.data_root,
        resume=args.resume,
        progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every,
        classical=args.classical,
    )
    example.check(config, dry_run=args.dry_run)
    if args.dry_run:
        from bridge.cost import format_preview, preview_training

        preview = preview_training(example, config)
        print(f"cost preview of {example.name} on {_describe(profile)}; no circuit was run")
        print(format_preview(preview, config.batch_size))
        return 0
    where = "a classical layer instead of the circuit (--classical)" if config.classical else _describe(profile)
    print(f"running {example.name} ({example.summary}) on {where}, {config.epochs} epoch(s)", flush=True)
    metrics = example.run(config)
    print(f"{metrics['summary']}; {metrics['seconds']:.1f} s; wrote metrics.json and its figures to {config.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user errors)."""
    args = build_parser().parse_args(argv)
    handlers = {"devices": _cmd_devices, "train": _cmd_train, "verify": _cmd_verify}
    try:
        return handlers[args.command](args)
    except NetworkError as e:  # the network failed, not the user
        print(f"qml-bridge: error: {e}", file=sys.stderr)
        return 1
    except ExecutionError as e:  # the backend failed, not the user: the last checkpoint is intact
        print(
            f"qml-bridge: error: {e}\nThe last checkpoint is intact; continue with --resume once the backend "
            "works again.",
            file=sys.stderr,
        )
        return 1
    except BridgeError as e:
        print(f"qml-bridge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "qml-bridge: interrupted; progress up to the last step is in the checkpoint (resume with --resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
