"""Training under ``torchrun``: the process group, each rank's share, and the few collectives the loop needs.

``torchrun --nproc-per-node N -m bridge train NAME`` starts N copies of the CLI with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT`` set. :func:`world` joins the process group (gloo for a model on
the CPU, NCCL for one on the GPUs, one per process: ``--torch-device cuda``) and says who this process is; without
those variables it is the one-process world and nothing is initialised. Every rank builds its own model, device and
QNode (nothing quantum crosses a process), reads its own shard of the data (``DistributedSampler``), seeds its own
simulator (:func:`rank_seed`) and sends its own primitive jobs; ``DistributedDataParallel`` all-reduces the
gradients.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from bridge.app.validate import torchrun_variable
from bridge.exceptions import BridgeError


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes (``size == 1``: no process group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Whether this process writes the run's outputs (metrics, figures, checkpoints) and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world(torch_device: str = "cpu") -> World:
    """Join ``torchrun``'s process group if this process was started by it (``WORLD_SIZE`` > 1).

    Args:
        torch_device: where the model's tensors live: ``"cpu"`` (gloo), or ``"cuda"``: GPU ``LOCAL_RANK`` of this
            machine, one per process (NCCL).

    Raises:
        BridgeError: the variables torchrun sets are inconsistent (a hand-set ``WORLD_SIZE`` without ``RANK``),
            or ``"cuda"`` without a usable GPU for every process of this machine.
    """
    size = torchrun_variable("WORLD_SIZE", 1) or 1
    local_rank = torchrun_variable("LOCAL_RANK", 0) or 0
    device = _device(torch_device, local_rank, (torchrun_variable("LOCAL_WORLD_SIZE", 1) or 1) if size > 1 else 1)
    if size <= 1:
        return World(device=device)
    rank = torchrun_variable("RANK", None)
    if rank is None or not 0 <= rank < size:
        raise BridgeError(
            f"WORLD_SIZE is {size} but RANK is {os.environ.get('RANK')!r}: start distributed runs with torchrun "
            "(torchrun --nproc-per-node N -m bridge train NAME), which sets both"
        )
    backend = "nccl" if device.type == "cuda" else "gloo"  # the same on every rank: where the tensors are
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return World(rank=rank, size=size, local_rank=local_rank, backend=backend, device=device)


def _device(torch_device: str, local_rank: int, local_size: int) -> torch.device:
    """``cpu``, or ``cuda:LOCAL_RANK`` where this machine has a GPU for each of its ``local_size`` processes."""
    if torch_device == "cpu":
        return torch.device("cpu")
    if torch_device != "cuda":
        raise BridgeError(f"torch device {torch_device!r} is not one of cpu, cuda")
    if not torch.cuda.is_available():
        raise BridgeError("--torch-device cuda: no usable CUDA GPU (torch.cuda.is_available() is False); use cpu")
    count = torch.cuda.device_count()
    if count < max(local_size, local_rank + 1):
        raise BridgeError(
            f"--torch-device cuda gives each process its own GPU (cuda:LOCAL_RANK, NCCL), but {local_size} "
            f"process(es) with LOCAL_RANK {local_rank} share this machine's {count} GPU(s): start at most {count} "
            "per machine, or train on --torch-device cpu (gloo)"
        )
    return torch.device("cuda", local_rank)


class Placed(nn.Module):
    """``module`` on ``device``: inputs moved there, outputs moved back to the CPU (the training loop, losses,
    metrics and figures stay on the CPU). Checkpoints save the module itself, not this wrapper."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.module = module.to(device)
        self.device = device

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.module(*(x.to(self.device) for x in inputs)).cpu()


def placed(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` itself on the CPU, else :class:`Placed` on ``device``."""
    return model if device.type == "cpu" else Placed(model, device)


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
    t = torch.tensor(values, dtype=torch.float64, device=w.device)  # NCCL reduces GPU tensors only
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
