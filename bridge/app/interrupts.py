"""Ctrl-C and SIGTERM held until the training step in progress ends, so a checkpoint never holds half a step."""

from __future__ import annotations

import signal
import threading
from typing import Any

from tqdm.auto import tqdm


class DeferredInterrupt:
    """Ctrl-C (SIGINT) or SIGTERM during a training step is held until the step ends.

    The loop then saves a checkpoint and raises ``KeyboardInterrupt``, so the checkpoint never holds a
    half-applied optimizer step. A second signal interrupts at once (the last checkpoint stays valid).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> DeferredInterrupt:
        self.requested = False
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("interrupted: finishing this step, then saving a checkpoint (interrupt again to stop at once)")

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
