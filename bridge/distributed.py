"""Training under ``torchrun``: the process group, each rank's share, and the few collectives the loop needs.

``torchrun --nproc-per-node N -m bridge train NAME`` starts N copies of the CLI with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT`` set. :func:`world` joins the process group (gloo on CPU, NCCL
when every rank has a CUDA device of its own) and says who this process is; without those variables it is the
one-process world and nothing is initialised. Every rank builds its own model, device and QNode (nothing quantum
crosses a process), reads its own shard of the data (``DistributedSampler``), seeds its own simulator
(:func:`rank_seed`) and sends its own primitive jobs; ``DistributedDataParallel`` all-reduces the gradients.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from bridge.exceptions import BridgeError
from bridge.validate import torchrun_variable


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes (``size == 1``: no process group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        """Whether this process writes the run's outputs (metrics, figures, checkpoints) and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """Join ``torchrun``'s process group if this process was started by it (``WORLD_SIZE`` > 1).

    Raises:
        BridgeError: the variables torchrun sets are inconsistent (a hand-set ``WORLD_SIZE`` without ``RANK``).
    """
    size = torchrun_variable("WORLD_SIZE", 1) or 1
    if size <= 1:
        return World()
    rank, local_rank = torchrun_variable("RANK", None), torchrun_variable("LOCAL_RANK", 0) or 0
    if rank is None or not 0 <= rank < size:
        raise BridgeError(
            f"WORLD_SIZE is {size} but RANK is {os.environ.get('RANK')!r}: start distributed runs with torchrun "
            "(torchrun --nproc-per-node N -m bridge train NAME), which sets both"
        )
    backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > local_rank else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return World(rank=rank, size=size, local_rank=local_rank, backend=backend)


def leave(w: World) -> None:
    """Leave the process group (after the run, on success or error)."""
    if w.distributed and dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """The simulator seed of ``rank`` in a run seeded ``seed``: ``seed`` itself on rank 0 (a one-process run is
    rank 0 of one), an independent stream from ``SeedSequence([seed, rank])`` on the others."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint32)[0])


def sum_over_ranks(w: World, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64; the values themselves in a one-process world)."""
    if not w.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather(w: World, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (pickled by torch.distributed; plain data only)."""
    if not w.distributed:
        return [obj]
    out: list[Any] = [None] * w.size
    dist.all_gather_object(out, obj)
    return out


def is_peer_failure(error: RuntimeError) -> bool:
    """Whether ``error`` is a collective failing because another rank went away (gloo or NCCL)."""
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error)
    return any(s in text for s in ("gloo", "NCCL", "Connection reset", "Connection closed", "ProcessGroup"))


def barrier(w: World) -> None:
    if w.distributed:
        dist.barrier()
