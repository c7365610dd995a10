"""``hello``: one qubit, learn a rotation whose ⟨Z⟩ hits a target (the hackathon's "hello world").

The circuit is ``U3(θ, φ, λ)|0⟩`` with ⟨Z⟩ = cos θ; the loss is (⟨Z⟩ − target)². Every combination of
four PyTorch optimizers (SGD, SGD + momentum, RMSprop, Adam), two gradient methods (the profile's analytic
parameter-shift, and finite differences) and three shot settings (exact, 100 and 10,000 shots) runs for
``--epochs`` optimizer steps (an "epoch" is one step here) from the same start. A setting the profile cannot
run (exact values on a noisy simulator) is skipped and listed in ``metrics.json`` as unavailable.

Pass criteria: exact, |⟨Z⟩ − target| ≤ 1e-3; with S shots, the exact ⟨Z⟩ of the learned rotation lies
within 3σ of the target, σ = √((1 − target²)/S) the standard deviation of an S-shot estimate of ⟨Z⟩.
Finite differences use PennyLane's default forward step (h = 1e-7) when exact and a central step h = 0.2
with shots: a step far below the shot noise gives gradients of pure noise.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from bridge.app.plots import plot_panels
from bridge.app.train import TrainConfig, output_folder, seed_everything, write_metrics
from bridge.circuits import u3_rotation
from bridge.exceptions import ProfileError
from bridge.layers import QuantumLayer
from bridge.profiles import Profile

TARGET = -0.5
START = (0.5, 0.0, 0.0)  # (θ, φ, λ): ⟨Z⟩ = cos 0.5 ≈ 0.88 at the start
EXACT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Settings:
    """The shot settings the example sweeps (``None``: exact)."""

    shot_settings: tuple[int | None, ...] = (None, 100, 10_000)


OPTIMIZERS: dict[str, Any] = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.2),
    "SGD+momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "RMSprop": lambda p: torch.optim.RMSprop(p, lr=0.02),
    "Adam": lambda p: torch.optim.Adam(p, lr=0.1),
}


def analytic_method(profile: Profile) -> str:
    """The profile's analytic gradient: ``device`` (bridge.qiskit's batched parameter-shift) stays, any other
    method becomes ``parameter-shift``."""
    return "device" if profile.diff_method == "device" else "parameter-shift"


def tolerance(shots: int | None) -> float:
    """How close the learned ⟨Z⟩ must come: 1e-3 exact, 3σ = 3 √((1 − target²)/shots) with shots."""
    return EXACT_TOLERANCE if shots is None else 3.0 * math.sqrt((1.0 - TARGET**2) / shots)


def optimize(profile: Profile, method: str, optimizer: str, steps: int) -> tuple[list[float], float]:
    """Run ``steps`` steps; return the measured |⟨Z⟩ − target| per step and the final exact ⟨Z⟩."""
    gradient_kwargs: dict[str, Any] = {}
    if method == "finite-diff" and profile.shots is not None:
        gradient_kwargs = {"h": 0.2, "approx_order": 2, "strategy": "center"}
    layer = QuantumLayer(
        u3_rotation(),
        profile=dataclasses.replace(profile, diff_method=method),
        init_method=lambda w: w.copy_(torch.tensor(START)),
        gradient_kwargs=gradient_kwargs,
    )
    opt = OPTIMIZERS[optimizer](layer.parameters())
    no_inputs = torch.zeros(0, dtype=torch.float64)
    distances = []
    for _ in range(steps):
        opt.zero_grad()
        z = layer(no_inputs)[0]
        loss = (z - TARGET) ** 2
        loss.backward()
        opt.step()
        distances.append(abs(float(z.detach()) - TARGET))
    theta = float(layer.qlayer.weights[0].detach())
    return distances, math.cos(theta)  # U3(θ, φ, λ)|0⟩ has ⟨Z⟩ = cos θ exactly


def run(config: TrainConfig) -> dict[str, Any]:
    """Run every optimizer × gradient method × shot setting; write metrics.json and loss.png."""
    sweep: Settings = config.settings or Settings()
    seed_everything(config.seed)
    out = output_folder(config)
    started = time.perf_counter()
    analytic = analytic_method(config.profile)
    runs, panels = [], {}
    settings, unavailable = {}, {}
    for shots in sweep.shot_settings:
        try:
            settings[shots] = config.profile.with_shots(shots)
        except ProfileError as e:  # e.g. exact values on a noisy simulator
            unavailable["exact" if shots is None else str(shots)] = str(e)
    combos = [(s, m, o) for s in settings for m in (analytic, "finite-diff") for o in OPTIMIZERS]
    for shots, method, optimizer in tqdm(combos, desc="hello", unit="run", disable=not config.progress):
        profile = settings[shots]
        distances, exact_z = optimize(profile, method, optimizer, config.epochs)
        label = "parameter-shift" if method in ("device", "parameter-shift") else method
        error = abs(exact_z - TARGET)
        runs.append(
            {
                "shots": shots,
                "gradient": label,
                "optimizer": optimizer,
                "final_exact_z": exact_z,
                "error": error,
                "tolerance": tolerance(shots),
                "passed": error <= tolerance(shots),
                "steps_to_tolerance": next((i + 1 for i, d in enumerate(distances) if d <= tolerance(shots)), None),
            }
        )
        panel = "exact" if shots is None else f"{shots} shots"
        panels.setdefault(panel, {})[f"{optimizer}, {label}"] = distances
    plot_panels(
        panels,
        out / "loss.png",
        f"hello: |<Z> - ({TARGET})| per step on {config.profile.name}",
        "optimizer step",
        "measured |<Z> - target|",
    )
    return write_metrics(
        out,
        {
            **config.metadata("hello"),
            "shots": list(sweep.shot_settings),
            "target": TARGET,
            "runs": runs,
            "unavailable_settings": unavailable,
            "all_passed": all(r["passed"] for r in runs),
            "exact_passed": all(r["passed"] for r in runs if r["shots"] is None),
            "summary": f"{sum(r['passed'] for r in runs)} of {len(runs)} runs within tolerance (exact: 1e-3; with "
            "shots: 3 sigma)",
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
