"""What the non-image examples share: option checks, the output folder, epoch checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from bridge.checkpoints import load_checkpoint, save_checkpoint, write_json
from bridge.exceptions import BridgeError
from bridge.train import CHECKPOINT, TrainConfig, batch_devices, execution_totals, seed_everything


def check_options(name: str, config: TrainConfig) -> Path:
    """Refuse options that mean nothing for example ``name`` (:meth:`bridge.tasks.Problem.check`), seed
    everything, and return the output folder (created)."""
    from bridge.tasks import PROBLEMS

    PROBLEMS[name].check(config)
    seed_everything(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


class EpochCheckpoint:
    """Model and optimizer state after each epoch, written atomically; ``--resume`` restarts after the last.

    The checkpoint records the example, profile, seed and batch size; resuming another run is refused.
    """

    def __init__(self, out: Path, run_id: dict[str, Any]) -> None:
        self.path = out / CHECKPOINT
        self.run_id = run_id
        self.started = time.perf_counter()
        self.seconds_before = 0.0

    def restore(self, modules: dict[str, Any]) -> tuple[int, dict[str, list[float]]]:
        """Load the checkpoint into ``modules`` (name → object with ``load_state_dict``).

        Returns:
            (epochs done, history so far).
        """
        state = load_checkpoint(self.path)
        differing = [f"{k} {state.get(k)!r} (now {v!r})" for k, v in self.run_id.items() if state.get(k) != v]
        if differing:
            raise BridgeError(f"checkpoint {self.path} was written by another run: {', '.join(differing)}; resume "
                              "with the same options, or use another --out")
        for name, module in modules.items():
            module.load_state_dict(state[name])
        torch.set_rng_state(state["torch_rng"])
        self.seconds_before = state["seconds"]
        return state["epoch"], state["history"]

    def save(self, modules: dict[str, Any], epoch: int, history: dict[str, list[float]]) -> None:
        save_checkpoint({**{k: m.state_dict() for k, m in modules.items()}, "epoch": epoch, "history": history,
                         "torch_rng": torch.get_rng_state(), "seconds": self.seconds(), **self.run_id}, self.path)

    def seconds(self) -> float:
        """Seconds spent on this run so far, across resumes."""
        return self.seconds_before + time.perf_counter() - self.started


def finish(out: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write ``metrics.json`` and return the metrics."""
    write_json(metrics, out / "metrics.json")
    return metrics


__all__ = ["EpochCheckpoint", "batch_devices", "check_options", "execution_totals", "finish"]
