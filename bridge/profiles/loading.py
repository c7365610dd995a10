"""Loading profiles: by name (a shipped ``devices/NAME.toml``), by path, or from ``$BRIDGE_DEVICE``; ``BASE:DEVICE``
names. The schema is :mod:`bridge.profiles.schema`, the value checks :mod:`bridge.profiles.checks`."""

from __future__ import annotations

import dataclasses
import os
from importlib import resources
from pathlib import Path

from bridge.exceptions import ProfileError
from bridge.profiles.schema import (
    Profile,
    parse_profile,
)

ENV_VAR = "BRIDGE_DEVICE"
DEFAULT_PROFILE = "aer"


def builtin_dir() -> Path:
    """The folder of the profiles shipped with the package."""
    return Path(str(resources.files("bridge.devices")))


def builtin_names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def list_profiles() -> list[Profile]:
    """Every shipped profile, loaded and validated, sorted by name."""
    return [load_profile(name) for name in builtin_names()]


def resolve_name(name: str | os.PathLike[str] | None = None) -> str | os.PathLike[str]:
    """The profile to use: ``name`` if given, else ``$BRIDGE_DEVICE``, else :data:`DEFAULT_PROFILE`."""
    if name is not None and not os.fspath(name).strip():
        raise ProfileError("the profile name is empty; give a name ('qml-bridge devices' lists them) or a path")
    if name:
        return name
    return os.environ.get(ENV_VAR) or DEFAULT_PROFILE


def load_profile(name: str | os.PathLike[str] | Profile | None = None) -> Profile:
    """Load a profile by name, by path, or from ``$BRIDGE_DEVICE``.

    Args:
        name: a shipped profile's name (``"aer"``), a path to a TOML file, a :class:`Profile`
            (returned as is), or ``None`` for ``$BRIDGE_DEVICE`` or the default ``"aer"``.

    Returns:
        The validated profile.

    Raises:
        ProfileError: unknown name (the message lists the known ones), unreadable or malformed file
            (file and line), unknown keys, wrong types, or inconsistent settings.

    Example:
        >>> load_profile("aer").device
        'bridge.qiskit'
    """
    if isinstance(name, Profile):
        return name
    chosen = resolve_name(name)
    text = os.fspath(chosen)
    base, colon, variant = text.partition(":")
    if colon and not _looks_like_path(text):
        if not variant.strip():
            raise ProfileError(
                f"profile {text!r} names no fake device after ':' (an unset shell variable?); give one "
                f"({base}:brisbane) or drop the ':' for {base}'s own"
            )
        return with_fake_device(load_profile(base), variant.strip())
    path = _profile_path(chosen)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(
            f"device profile {path} is not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8 (TOML's encoding)"
        ) from None
    except OSError as e:
        raise ProfileError(f"device profile {path} cannot be read ({e.strerror or e})") from None
    return parse_profile(text, name=path.stem, source=path)


def with_fake_device(profile: Profile, device: str) -> Profile:
    """The profile with its fake IBM device (Aer noise source, or local-mode runtime backend) replaced.

    Args:
        profile: a profile with ``[qiskit] noise_backend`` or ``[qiskit] backend = "fake"``.
        device: a fake device's name: ``"brisbane"``, ``"fake_brisbane"`` or ``"FakeBrisbane"``.

    Raises:
        ProfileError: the profile has no fake device to replace, or ``device`` is empty.
    """
    if not device.strip():
        raise ProfileError(f"no fake device given to replace {profile.name!r}'s; name one, e.g. 'brisbane'")
    if profile.qiskit.noise_backend:
        changed = dataclasses.replace(profile, qiskit=dataclasses.replace(profile.qiskit, noise_backend=device))
    elif profile.qiskit.backend == "fake":
        changed = dataclasses.replace(profile, ibm=dataclasses.replace(profile.ibm, backend=device))
    else:
        raise ProfileError(
            f"profile {profile.name!r} has no fake IBM device to replace with {device!r}; "
            "NAME:DEVICE works for profiles with a noise_backend (aer-noisy) or a fake backend "
            "(ibm-fake-*)"
        )
    return dataclasses.replace(changed, name=f"{profile.name}:{device}")


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or os.sep in text or "/" in text


def _profile_path(chosen: str | os.PathLike[str]) -> Path:
    text = os.fspath(chosen)
    if _looks_like_path(text):
        path = Path(text).expanduser()
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise ProfileError(f"device profile {text!r} is {kind}; give a TOML file or a profile name")
        if not path.is_file():
            raise ProfileError(
                f"device profile file {text!r} does not exist; give an existing TOML file "
                f"or one of the profile names: {', '.join(builtin_names())}"
            )
        return path
    path = builtin_dir() / f"{text}.toml"
    if not path.is_file():
        raise ProfileError(
            f"unknown device profile {text!r}; known profiles: {', '.join(builtin_names())} "
            f"(or give a path to your own .toml file; `qml-bridge devices` lists them)"
        )
    return path
