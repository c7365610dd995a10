"""``meta``: a recurrent network learns to optimize a one-qubit rotation (the hackathon's "meta-learning of a
neural optimizer"), then races Adam on unseen targets.

Problem: find θ with ⟨Z⟩ = cos θ equal to a target t ∈ [−0.9, 0.9], starting from θ = 0.1; the loss is
(⟨Z⟩ − t)², its gradient comes from the circuit (parameter-shift on hardware-like profiles). The optimizer
is an ``LSTMCell(2, 20)`` + ``Linear(20, 1)``: it reads the gradient and the residual ⟨Z⟩ − t and proposes
the step Δθ. Meta-training (Andrychowicz et al. 2016) unrolls ``Settings.unroll`` steps on a batch of random
targets and minimizes the summed loss by Adam on the network's weights; the gradients fed to the network
are detached (no second derivatives of the circuit). An "epoch" is ``Settings.iterations`` meta-iterations.

Evaluation: 20 unseen targets (fixed seed); steps until |⟨Z⟩ − t| ≤ ``TOLERANCE`` (measured on the profile)
for the learned optimizer (at most ``Settings.max_steps``) and for Adam (lr 0.1, the same).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from bridge.app.checkpoints import RunCheckpoint
from bridge.app.counting import quantum_devices, tracked
from bridge.app.plots import plot_panels
from bridge.app.train import CHECKPOINT, Progress, TrainConfig, output_folder, seed_everything, write_metrics
from bridge.circuits import ry_rotation
from bridge.layers import QuantumLayer

START = 0.1
TOLERANCE = 0.01
TEST_SEED = 20_261_125
ADAM_LR = 0.1


@dataclass(frozen=True)
class Settings:
    """Unrolled steps per meta-iteration, meta-iterations per epoch, and the evaluation's size."""

    unroll: int = 15
    iterations: int = 20
    max_steps: int = 100
    test_targets: int = 20


class NeuralOptimizer(nn.Module):
    """(gradient, residual) ``(batch, 2)`` and the LSTM state → step Δθ ``(batch,)`` and the new state."""

    def __init__(self, hidden: int = 20) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(2, hidden)
        self.step = nn.Linear(hidden, 1)

    def forward(
        self, observed: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, c = self.cell(observed, state)
        return self.step(h).squeeze(-1), (h, c)


def targets(n: int, seed: int) -> torch.Tensor:
    """``n`` targets uniform on [−0.9, 0.9], from ``seed``."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1.8 - 0.9


def expectation(circuit: QuantumLayer, theta: torch.Tensor) -> torch.Tensor:
    """⟨Z⟩ ``(batch,)`` for angles ``(batch,)``, one batched circuit call."""
    return circuit(theta.unsqueeze(-1)).squeeze(-1)


def unroll(
    circuit: QuantumLayer, optimizer: NeuralOptimizer, goal: torch.Tensor, steps: int, keep_graph: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Let the network optimize θ for ``steps`` steps on every target of ``goal`` ``(batch,)``.

    Returns:
        The summed mean loss (differentiable in the network's weights when ``keep_graph``) and the residual
        |⟨Z⟩ − t| ``(batch,)`` measured before each step (``steps + 1`` entries).
    """
    theta = torch.full_like(goal, START, requires_grad=True)
    state, total, residuals = None, goal.new_zeros(()), []
    for _ in range(steps):
        z = expectation(circuit, theta)
        loss = (z - goal) ** 2
        (gradient,) = torch.autograd.grad(loss.sum(), theta, retain_graph=keep_graph)
        residuals.append((z - goal).detach().abs())
        total = total + loss.mean()
        delta, state = optimizer(torch.stack([gradient.detach(), (z - goal).detach()], dim=-1).float(), state)
        theta = theta + delta.double() if keep_graph else (theta + delta.double()).detach().requires_grad_(True)
    residuals.append((expectation(circuit, theta) - goal).detach().abs())
    return total, residuals


def adam_residuals(circuit: QuantumLayer, goal: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Adam (per-coordinate, so one batch holds independent problems) on every target: |⟨Z⟩ − t| per step."""
    theta = torch.full_like(goal, START, requires_grad=True)
    adam = torch.optim.Adam([theta], lr=ADAM_LR)
    residuals = []
    for _ in range(steps):
        adam.zero_grad()
        z = expectation(circuit, theta)
        residuals.append((z - goal).detach().abs())
        ((z - goal) ** 2).sum().backward()
        adam.step()
    residuals.append((expectation(circuit, theta) - goal).detach().abs())
    return residuals


def steps_to_tolerance(residuals: list[torch.Tensor]) -> list[int | None]:
    """Per problem, the first step count after which |⟨Z⟩ − t| ≤ TOLERANCE (``None``: never)."""
    table = torch.stack(residuals)  # (steps + 1, batch)
    return [next((k for k in range(len(table)) if table[k, i] <= TOLERANCE), None) for i in range(table.shape[1])]


def run(config: TrainConfig) -> dict[str, Any]:
    """Meta-train, evaluate against Adam, write metrics.json, loss.png and checkpoint.pt."""
    settings: Settings = config.settings or Settings()
    started = time.perf_counter()
    seed_everything(config.seed)
    out = output_folder(config)
    circuit = QuantumLayer(ry_rotation(), profile=config.profile)
    network = NeuralOptimizer()
    meta_optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
    modules = {"network": network, "meta_optimizer": meta_optimizer}
    devices = quantum_devices(circuit)
    checkpoint = RunCheckpoint(out / CHECKPOINT, config.identity("meta"))
    epoch, history, seconds_before, executed_before = 0, {"train_loss": []}, 0.0, {}
    if config.resume:
        state = checkpoint.restore(modules, devices, epochs=config.epochs, history_keys=("train_loss",))
        epoch, history = state["progress"]["epoch"], state["history"]
        seconds_before, executed_before = state["seconds"], state["execution"]
    with tracked(circuit, executed_before) as execution:
        while epoch < config.epochs:
            total = 0.0
            for iteration in tqdm(
                range(settings.iterations),
                desc=f"epoch {epoch + 1}/{config.epochs}",
                unit="unroll",
                disable=not config.progress,
                leave=False,
            ):
                goal = targets(config.batch_size, config.seed * 1_000_003 + epoch * settings.iterations + iteration)
                meta_optimizer.zero_grad()
                meta_loss, _ = unroll(circuit, network, goal, settings.unroll, keep_graph=True)
                meta_loss.backward()
                meta_optimizer.step()
                total += float(meta_loss.detach()) / settings.unroll
            history["train_loss"].append(total / settings.iterations)
            epoch += 1
            checkpoint.save(
                modules,
                devices,
                asdict(Progress(epoch=epoch)),
                history,
                seconds_before + time.perf_counter() - started,
                execution(),
            )
            if config.progress:
                tqdm.write(
                    f"epoch {epoch}/{config.epochs}: mean loss over the unrolled steps {history['train_loss'][-1]:.5f}"
                )
        unseen = targets(settings.test_targets, TEST_SEED)
        network.eval()
        _, learned = unroll(circuit, network, unseen, settings.max_steps, keep_graph=False)
        adam = adam_residuals(circuit, unseen, settings.max_steps)
    learned_steps, adam_steps = steps_to_tolerance(learned), steps_to_tolerance(adam)

    def mean_steps(steps: list[int | None]) -> float:  # a problem never solved counts as max_steps
        return sum(settings.max_steps if s is None else s for s in steps) / len(steps)

    curves = {"learned optimizer": [float(r.mean()) for r in learned], "Adam (lr 0.1)": [float(r.mean()) for r in adam]}
    plot_panels(
        {f"mean over {settings.test_targets} unseen targets": curves},
        out / "loss.png",
        f"meta on {config.profile.name}",
        "optimizer step",
        "|<Z> - target|",
    )
    return write_metrics(
        out,
        {
            **config.metadata("meta"),
            "train_loss": history["train_loss"],
            "tolerance": TOLERANCE,
            "max_steps": settings.max_steps,
            "test_targets": unseen.tolist(),
            "learned_steps": learned_steps,
            "adam_steps": adam_steps,
            "learned_mean_steps": mean_steps(learned_steps),
            "adam_mean_steps": mean_steps(adam_steps),
            "learned_solved": sum(s is not None for s in learned_steps),
            "adam_solved": sum(s is not None for s in adam_steps),
            "learned_beats_adam": mean_steps(learned_steps) < mean_steps(adam_steps),
            "summary": f"steps to |<Z> - t| <= {TOLERANCE}: learned optimizer {mean_steps(learned_steps):.2f}, Adam "
            f"{mean_steps(adam_steps):.2f} (mean over {settings.test_targets} unseen targets)",
            "seconds": round(seconds_before + time.perf_counter() - started, 3),
            "execution": execution(),
        },
    )
