"""One worker process of a :class:`~bridge.qiskit.workers.WorkerPool`: ``python -m bridge.qiskit.worker``.

It reads pickled requests from its standard input and writes pickled replies to its standard output (its own
prints and Aer's go to standard error, so that nothing else reaches the replies):

1. first the ideal ``AerSimulator`` it runs on (its options: method, device, threads);
2. then requests ``(forget, circuits, parts, options)``: tokens of circuits to drop, new ``{token: circuit}``
   (each prepared circuit comes once and is kept), and the rows to run as ``(token, values, rows per stacked
   experiment)``; the reply is ``("ok", saved)`` (:data:`bridge.qiskit.primitives.Saved`, arrays only) or
   ``("error", exception type, message)``.

It stops at the end of its input (the pool closed, or the process that started it ended).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import Any, BinaryIO


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until ``requests`` ends (see the module's docstring)."""
    from bridge.qiskit import primitives

    simulator = pickle.load(requests)
    circuits: dict[int, Any] = {}
    while True:
        try:
            forget, new, parts, options = pickle.load(requests)
        except EOFError:
            return
        for token in forget:
            circuits.pop(token, None)
        circuits.update(new)
        try:
            pubs = [primitives.Pub(circuits[token], values) for token, values, _ in parts]
            saved = primitives.saved_rows(
                simulator, pubs, primitives.run_once, stacking_rows=[k for _, _, k in parts], **options
            )
            reply: tuple[Any, ...] = ("ok", saved)
        except Exception as e:  # the pool raises it in the device's process, named
            reply = ("error", type(e).__name__, str(e))
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the device's process, which ends this one's input
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to standard error, not into the replies
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
