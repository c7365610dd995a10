"""The application layer: the qml-bridge command, its examples, data, models, training, checkpoints and
figures. It imports the library (the rest of ``bridge``); nothing there imports it."""

from typing import Any

__all__ = ["fit"]


def __getattr__(name: str) -> Any:
    """``bridge.app.fit``: your own model through the examples' training loop (imported on first use)."""
    if name == "fit":
        from bridge.app.own_model import fit

        return fit
    raise AttributeError(f"module 'bridge.app' has no attribute {name!r}")
