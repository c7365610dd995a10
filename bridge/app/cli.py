"""The ``qml-bridge`` command (also ``python -m bridge``).

Errors a user can cause (:class:`~bridge.exceptions.BridgeError`) print one line on stderr and exit
with code 2, without a traceback; a backend whose jobs keep failing (:class:`~bridge.exceptions.ExecutionError`)
exits with code 1, and an interrupted run with 130, each leaving a checkpoint to resume from.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.app import validate
from bridge.app.cli_parser import build_parser
from bridge.exceptions import BridgeError, ExecutionError, NetworkError, RankFailure
from bridge.profiles import Profile, list_profiles, load_profile


def _weight_shapes(items: Sequence[str]) -> dict[str, tuple[int, ...]] | None:
    if not items:
        return None
    shapes = {}
    for item in items:
        name, _, dims = item.partition("=")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(",") if d)
        except ValueError:
            raise BridgeError(f"--weight-shape takes NAME=D1,D2,… (e.g. weights=2,3), got {item!r}") from None
        if not name or not dims:
            raise BridgeError(f"--weight-shape takes NAME=D1,D2,… (e.g. weights=2,3), got {item!r}")
    return shapes


def _cmd_verify_model(args: argparse.Namespace) -> int:
    """``verify --model``: exit 0 when every comparison passes, 1 when one fails (the table says which), 2 when the
    verification cannot run (one line: the file, its import, its quantum layers, their shapes or measurements)."""
    from bridge.verification.model import error_line
    from bridge.verification.rows import TABLE_HEADER, format_row, write_rows
    from bridge.verification.run import DEFAULT_PROFILES, MAX_BATCH, load_model, verify_model

    validate.writable_file(args.json, "--json")
    if args.batch > MAX_BATCH:
        raise BridgeError(f"--batch {args.batch} is above the bound of {MAX_BATCH} rows: give at most {MAX_BATCH}")
    print(f"importing {args.model.rpartition(':')[0]} (this runs its code)", flush=True)
    model = load_model(args.model)
    started = False  # the table's header comes with its first row (a model refused prints no table)

    def show(row: Any) -> None:  # each row as soon as it is computed: a long run shows its progress
        nonlocal started
        if not started:
            print(TABLE_HEADER)
            started = True
        print(format_row(row), flush=True)

    try:
        rows = verify_model(
            model,
            args.device or DEFAULT_PROFILES,
            batch=args.batch,
            seed=args.seed,
            against=args.against,
            tolerance=args.tolerance,
            weight_shapes=_weight_shapes(args.weight_shape),
            n_inputs=args.n_inputs,
            progress=show,
        )
    except BridgeError:
        raise
    except Exception as e:  # the user's model failed inside an engine: the verification could not run
        raise BridgeError(f"verifying {args.model} could not run: {error_line(e)}") from e
    if args.json:
        write_rows(rows, args.json)
    return _verdict(rows)


def _verdict(rows: Sequence[Any]) -> int:
    failed = [r for r in rows if not r.passed]
    unchecked = [r for r in failed if r.not_checked]
    if failed:
        print(
            f"verification FAILED: {len(failed) - len(unchecked)} of {len(rows)} comparisons out of tolerance"
            + (f", {len(unchecked)} could not be made" if unchecked else "")
        )
    else:
        print(f"verification: all {len(rows)} comparisons within tolerance")
    return 1 if failed else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.model:
        return _cmd_verify_model(args)
    model_only = [
        o
        for o, v in (
            ("--against", args.against),
            ("--tolerance", args.tolerance),
            ("--n-inputs", args.n_inputs),
            ("--weight-shape", args.weight_shape),
        )
        if v
    ]
    if model_only:
        raise BridgeError(f"{', '.join(model_only)}: these options apply only with --model FILE.py:NAME")
    from bridge.verification.library import DEFAULT_PROFILES, run_verification
    from bridge.verification.rows import TABLE_HEADER, format_row

    validate.writable_file(args.json, "--json")
    print(TABLE_HEADER, flush=True)
    rows = run_verification(
        args.device or DEFAULT_PROFILES,
        random_count=args.random,
        seed=args.seed,
        json_path=args.json,
        progress=lambda row: print(format_row(row), flush=True),
    )
    return _verdict(rows)


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


def train_profile(device: str | None, seed: int | None) -> Profile:
    """The profile a training run uses: ``--device``'s, its simulator seed replaced by ``--seed`` when given (the
    profile's own ``seed`` stays otherwise)."""
    profile = load_profile(device)
    return profile if seed is None else profile.with_seed(seed)


def _train_out(args: argparse.Namespace) -> Path:
    """A training run's output folder: ``--out``, else ``runs/EXAMPLE``."""
    return args.out or Path("runs") / args.example


def _cmd_train(args: argparse.Namespace) -> int:
    from bridge.app.registry import get_example
    from bridge.app.validate import launched

    example = get_example(args.example)
    profile = train_profile(args.device, args.seed)
    if profile.needs_ibm_account and not args.dry_run:
        from bridge.ibm import check_credentials

        check_credentials()
    if hasattr(args, "shots"):
        profile = profile.with_shots(args.shots)
    from bridge.app.train import TrainConfig

    config = TrainConfig(
        profile=profile,
        epochs=args.epochs or example.epochs,
        seed=args.seed if args.seed is not None else 0,
        batch_size=args.batch_size or example.batch_size,
        out=_train_out(args),
        data_root=args.data_root,
        resume=args.resume,
        progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every,
        classical=args.classical,
        torch_device=args.torch_device,
        tracking=tuple(dict.fromkeys(args.tracking or ())),
    )
    example.check(config, dry_run=args.dry_run)
    if args.overwrite and args.resume:
        raise BridgeError("--resume continues the checkpoint in --out, --overwrite discards it: give one of them")
    if not args.dry_run and launched()[1] == 0:
        from bridge.app.run_folder import check_output_folder

        check_output_folder(config.out, resume=config.resume, overwrite=args.overwrite)
    if args.nproc is not None and not args.dry_run:
        raise BridgeError(
            "--nproc sizes a --dry-run preview; to train on N processes start the run with "
            "torchrun --nproc-per-node N -m bridge train ..."
        )
    if args.dry_run:
        from bridge.app.cost import format_preview, preview_training

        size, rank = launched()
        if rank != 0:
            return 0  # under torchrun, rank 0 prints the preview for all
        preview = preview_training(example, config, args.nproc or size)
        print(f"cost preview of {example.name} on {_describe(profile)}; no circuit was run")
        print(format_preview(preview, config.batch_size))
        return 0
    where = "a classical layer instead of the circuit (--classical)" if config.classical else _describe(profile)
    main_rank = launched()[1] == 0  # torchrun's rank 0 (or no torchrun) owns the folder
    with contextlib.ExitStack() as stack:
        if main_rank:
            from bridge.app.run_folder import FolderClaim

            # checked now, changed nothing; claimed (created, locked, an earlier run moved aside) by the run once
            # the profile, the data and the model have passed their checks too
            claim = FolderClaim(
                config.out,
                stack,
                resume=config.resume,
                overwrite=args.overwrite,
                announce=f"running {example.name} ({example.summary}) on {where}, {config.epochs} epoch(s)",
            )
            config = dataclasses.replace(config, claim=claim)
        metrics = example.run(config)
    if "summary" in metrics:  # rank 0 (or the only process) reports; other torchrun ranks write nothing
        print(f"{metrics['summary']}; {metrics['seconds']:.1f} s; wrote metrics.json and its figures to {config.out}")
    return 0


def _after_failure(args: argparse.Namespace) -> str:
    """What a backend failure leaves: the checkpoint to resume from, if the run wrote one."""
    checkpoint = _train_out(args) / "checkpoint.pt" if args.command == "train" else None
    if checkpoint is not None and checkpoint.is_file():
        return f"The last checkpoint ({checkpoint}) is intact; continue with --resume once the backend works again."
    return "No checkpoint was written yet; run the command again once the backend works."


def _after_interrupt(args: argparse.Namespace) -> str:
    """What an interrupted command leaves, as it is on disk now."""
    if args.command != "train":
        return "the verification stopped before its verdict; nothing was written"
    checkpoint = _train_out(args) / "checkpoint.pt"
    if checkpoint.is_file() and not checkpoint.is_symlink():
        return f"the checkpoint {checkpoint} holds the run up to its last save (continue with --resume)"
    return "no checkpoint was written, so there is nothing to resume: run the command again"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user errors)."""
    args = build_parser().parse_args(argv)
    handlers = {"devices": _cmd_devices, "train": _cmd_train, "verify": _cmd_verify}
    try:
        validate.check_environment()
        if args.command == "train":
            validate.check_app_installed()
        return handlers[args.command](args)
    except NetworkError as e:  # the network failed, not the user
        print(f"qml-bridge: error: {e}", file=sys.stderr)
        return 1
    except ExecutionError as e:  # the backend failed, not the user
        print(f"qml-bridge: error: {e} {_after_failure(args)}", file=sys.stderr)
        return 1
    except RankFailure as e:  # another torchrun rank failed, not the user
        print(f"qml-bridge: error: {e}", file=sys.stderr)
        return 1
    except BridgeError as e:
        print(f"qml-bridge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qml-bridge: interrupted; {_after_interrupt(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
