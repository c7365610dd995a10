"""Packaging: declared entry points load, profiles ship inside the package, the lazy API resolves."""

from __future__ import annotations

from importlib import metadata

import pytest

import bridge


def test_console_script_entry_point_loads():
    scripts = [ep for ep in metadata.entry_points(group="console_scripts") if ep.dist.name == "qml-bridge"]
    assert [ep.name for ep in scripts] == ["qml-bridge"]
    from bridge.app.cli import main

    assert scripts[0].load() is main


def test_profiles_are_package_data():
    from bridge.profiles import builtin_dir

    assert builtin_dir().name == "devices" and (builtin_dir() / "aer.toml").is_file()


@pytest.mark.parametrize("name", bridge.__all__)
def test_public_names_resolve(name):
    assert getattr(bridge, name) is not None


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bridge.nope  # noqa: B018


def test_every_subpackage_is_declared():
    """A wheel holds only the declared packages: every folder of bridge/ with Python files must be one."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[2]
    declared = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "bridge").rglob("__init__.py")}
    assert found <= declared
