"""The command line's validation boundary: every option and environment variable checked before work starts.

The CLI's argument types (:func:`shots`, :func:`positive`, :func:`nonnegative`, :func:`seed`, :func:`profile_name`)
turn a bad value into argparse's one-line error (exit 2); :func:`writable_file` and :func:`check_environment`
raise :class:`~bridge.exceptions.BridgeError` (exit 2) before any data is loaded or circuit is run. Profile keys
are validated where profiles are parsed (:mod:`bridge.profiles.schema`), checkpoints where they are loaded
(:mod:`bridge.app.checkpoints`), output folders in :mod:`bridge.app.run_folder`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
from pathlib import Path

from bridge.exceptions import BridgeError
from bridge.profiles.schema import SHOTS_MAX

TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
SEED_MAX = 2**32 - 1  # NumPy's and Aer's seeds are unsigned 32-bit integers


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}, got {text!r}") from None


def positive(text: str, what: str = "expected a positive integer") -> int:
    value = _integer(text, what)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{what}, got {value}")
    return value


def nonnegative(text: str) -> int:
    value = _integer(text, "expected an integer ≥ 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {value}")
    return value


def seed(text: str) -> int:
    value = _integer(text, f"a seed is an integer from 0 to {SEED_MAX}")
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to {SEED_MAX} (2**32 - 1), got {value}")
    return value


def shots(text: str) -> int | None:
    if text.strip().lower() in ("exact", "none"):
        return None
    value = positive(text, "shots must be a positive integer or 'exact'")
    if value > SHOTS_MAX:
        raise argparse.ArgumentTypeError(f"shots must be at most {SHOTS_MAX:,} per circuit, got {value:,}")
    return value


TRACKING_KINDS = ("csv", "tensorboard", "mlflow")
TRACKING_MODULES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # the package each tracker imports


def check_tracking_available(kinds: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`BridgeError` for an unknown tracker, or one whose package is missing (naming the extra)."""
    for kind in kinds:
        if kind not in TRACKING_KINDS:
            raise BridgeError(f"unknown tracking {kind!r}: choose from {', '.join(TRACKING_KINDS)}")
        module = TRACKING_MODULES.get(kind)
        if module and importlib.util.find_spec(module) is None:
            raise BridgeError(
                f'--tracking {kind} needs the {module} package: pip install "qml-bridge[tracking]" (or {module})'
            )


def tracking(text: str) -> str:
    """A ``--tracking`` name whose package is installed (``pip install "qml-bridge[tracking]"`` otherwise)."""
    try:
        check_tracking_available([text])
    except BridgeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def profile_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the profile is empty; give a name ('qml-bridge devices' lists them) or a path"
        )
    return text


def writable_file(path: Path | None, option: str) -> None:
    """Refuse, before any work, an output file that cannot be written (a folder, under a file, not writable).

    Writability is tried in the nearest existing folder (:func:`write_refused`).
    """
    if path is None:
        return
    if path.is_dir():
        raise BridgeError(f"{option} {path} is a folder; give a file name such as {path / 'results.json'}")
    existing = next(p for p in [path.parent, *path.parent.parents] if p.exists())
    if not existing.is_dir():
        raise BridgeError(f"{option} {path}: {existing} is a file, not a folder; choose another path")
    reason = write_refused(existing)
    if reason:
        raise BridgeError(f"{option} {path} cannot be written ({reason}); choose a path in a folder you can write to")


def write_refused(folder: Path, *, create: bool = False) -> str | None:
    """Why a new file cannot be written in ``folder`` (created first with ``create``), or ``None`` when it can.

    Tried with a temporary file, not looked up: permission bits say nothing to root, or on a read-only or
    virtual file system.
    """
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".qml-bridge-probe."):
            pass
    except OSError as e:
        return str(e.strerror or e)
    return None


APP_PACKAGES = ("torchvision", "matplotlib", "tqdm")  # the [app] extra: data, figures, progress bars


def check_app_installed() -> None:
    """Refuse a training run when the ``[app]`` extra is missing (the library install leaves it out).

    Raises:
        BridgeError: naming the missing packages and the extra to install.
    """
    missing = [name for name in APP_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise BridgeError(
            f"qml-bridge train needs {', '.join(missing)}, which the library install leaves out: install the "
            "app extra, pip install 'qml-bridge[app]' (from a checkout: pip install -e '.[app]')"
        )


def check_environment() -> None:
    """The environment variables the bridge reads, checked before work starts.

    Raises:
        BridgeError: ``BRIDGE_DEVICE`` set but empty, ``QML_BRIDGE_CACHE`` naming a file or an unwritable folder,
            torchrun's ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` not integers.
    """
    if "BRIDGE_DEVICE" in os.environ and not os.environ["BRIDGE_DEVICE"].strip():
        raise BridgeError("BRIDGE_DEVICE is set but empty; unset it or give a profile name")
    cache = os.environ.get("QML_BRIDGE_CACHE")
    if cache is not None:
        check_cache_folder(Path(cache))
    for name in TORCHRUN_VARIABLES:
        torchrun_variable(name, 0)


def torchrun_variable(name: str, default: int | None) -> int | None:
    """One of the variables torchrun sets (:data:`TORCHRUN_VARIABLES`), or ``default`` where it is unset or empty.

    Raises:
        BridgeError: a value that is not a non-negative integer.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise BridgeError(f"environment variable {name}={value!r} is not a non-negative integer; torchrun sets it")
    return int(value)


def launched() -> tuple[int, int]:
    """``(WORLD_SIZE, RANK)`` as torchrun set them for this process, ``(1, 0)`` without torchrun; joins nothing
    (:func:`bridge.app.distributed.world` joins the process group)."""
    return torchrun_variable("WORLD_SIZE", 1) or 1, torchrun_variable("RANK", 0) or 0


def check_cache_folder(cache: Path) -> None:
    """``QML_BRIDGE_CACHE`` must be a folder this process can create and write.

    Raises:
        BridgeError: naming the problem and the fix.
    """
    if not str(cache).strip():
        raise BridgeError("QML_BRIDGE_CACHE is set but empty; unset it or give a folder")
    if cache.exists() and not cache.is_dir():
        raise BridgeError(f"QML_BRIDGE_CACHE={cache} is a file, not a folder; point it at a folder or unset it")
    reason = write_refused(cache, create=True)
    if reason:
        raise BridgeError(f"QML_BRIDGE_CACHE={cache} is not a writable folder ({reason}); point it at one or unset it")
