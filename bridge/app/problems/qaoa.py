"""``qaoa``: QAOA max-cut trained with a PyTorch optimizer (the hackathon's 2-qubit example, and more).

Graphs: the hackathon's 2-node graph and one seeded random graph (G(n, 1/2), redrawn until connected) for
each n = 4..8. For each graph and depth p = 1, 2, 3 the angles (γ, β) are trained with Adam to maximize the
expected cut Σ (1 − ⟨Z_i Z_j⟩)/2, each depth starting from the previous depth's angles interpolated to
p + 1 layers (Zhou et al.'s INTERP; depth 1 starts at ``START``). Then the trained circuit is sampled
and its most probable bitstring is checked against the maximum cut found by brute force over all 2^n
assignments. An "epoch" is one optimizer step here.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
import torch
from tqdm.auto import tqdm

from bridge.app.plots import plot_panels
from bridge.app.train import TrainConfig, output_folder, seed_everything, write_metrics
from bridge.circuits import qaoa_maxcut, qaoa_state
from bridge.layers import QuantumLayer
from bridge.layers.qnodes import make_qnode
from bridge.profiles import Profile

GRAPH_SEED = 7
LEARNING_RATE = 0.05
START = (-0.4, 0.4)  # (γ, β) of depth 1


@dataclass(frozen=True)
class Settings:
    """Depths trained, sizes of the random graphs, and shots of the final sampling on exact profiles."""

    depths: tuple[int, ...] = (1, 2, 3)
    nodes: tuple[int, ...] = (4, 5, 6, 7, 8)
    sample_shots: int = 1000


def random_connected_graph(n: int, seed: int) -> list[tuple[int, int]]:
    """G(n, 1/2): each of the n(n−1)/2 edges present with probability 1/2, redrawn until connected."""
    rng = np.random.default_rng(seed)
    pairs = list(itertools.combinations(range(n), 2))
    while True:
        edges = [e for e, keep in zip(pairs, rng.random(len(pairs)) < 0.5, strict=True) if keep]
        reached, frontier = {0}, [0]
        while frontier:
            node = frontier.pop()
            for i, j in edges:
                for a, b in ((i, j), (j, i)):
                    if a == node and b not in reached:
                        reached.add(b)
                        frontier.append(b)
        if len(reached) == n:
            return edges


def graphs(seed: int = GRAPH_SEED, nodes: tuple[int, ...] = Settings.nodes) -> dict[str, list[tuple[int, int]]]:
    """The example's graphs, name → edge list on nodes ``0..n-1``."""
    return {"2 nodes (hackathon)": [(0, 1)], **{f"{n} nodes": random_connected_graph(n, seed * 100 + n) for n in nodes}}


def cut_size(bits: tuple[int, ...], edges: list[tuple[int, int]]) -> int:
    """Number of edges whose ends are on different sides of the partition ``bits``."""
    return int(sum(bits[i] != bits[j] for i, j in edges))


def max_cut(edges: list[tuple[int, int]], n: int) -> int:
    """The maximum cut, by brute force over all 2^n partitions."""
    return max(cut_size(bits, edges) for bits in itertools.product((0, 1), repeat=n))


def interpolate(angles: torch.Tensor) -> torch.Tensor:
    """INTERP: angles of depth p ``(p,)`` → a start for depth p + 1 ``(p + 1,)``:
    new_i = (i − 1)/p · old_{i−1} + (p − i + 1)/p · old_i for i = 1..p + 1, with old_0 = old_{p+1} = 0."""
    p = len(angles)
    old = torch.cat([angles.new_zeros(1), angles, angles.new_zeros(1)])  # old[0..p+1]
    return torch.stack([(i - 1) / p * old[i - 1] + (p - i + 1) / p * old[i] for i in range(1, p + 2)])


def train_depth(
    edges: list[tuple[int, int]], start: tuple[torch.Tensor, torch.Tensor], profile: Profile, steps: int
) -> tuple[QuantumLayer, list[float]]:
    """Train (γ, β) of one depth from ``start``; returns the layer and the expected cut per step."""
    gammas, betas = start
    layer = QuantumLayer(
        qaoa_maxcut(edges, len(gammas)),
        profile=profile,
        init_method={"gammas": lambda w: w.copy_(gammas), "betas": lambda w: w.copy_(betas)},
    )
    optimizer = torch.optim.Adam(layer.parameters(), lr=LEARNING_RATE)
    no_inputs = torch.zeros(0, dtype=torch.float64)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        expected_cut = ((1.0 - layer(no_inputs)) / 2.0).sum()
        (-expected_cut).backward()
        optimizer.step()
        history.append(float(expected_cut.detach()))
    return layer, history


def most_probable(
    edges: list[tuple[int, int]], n: int, layer: QuantumLayer, profile: Profile, shots: int
) -> tuple[tuple[int, ...], float]:
    """Sample the trained circuit; return its most frequent bitstring and that bitstring's frequency."""

    def qfunc(gammas, betas):
        qaoa_state(edges, n, gammas, betas)
        return qml.sample(wires=range(n))

    qnode = make_qnode(qfunc, profile.with_shots(shots), n)
    weights = layer.qlayer.qnode_weights
    samples = np.asarray(qnode(weights["gammas"].detach(), weights["betas"].detach())).astype(int).reshape(shots, n)
    bits, count = Counter(tuple(int(b) for b in row) for row in samples).most_common(1)[0]
    return bits, count / shots


def run(config: TrainConfig) -> dict[str, Any]:
    """Train every graph at every depth; write metrics.json and loss.png."""
    settings: Settings = config.settings or Settings()
    depths = settings.depths
    seed_everything(config.seed)
    out = output_folder(config)
    started = time.perf_counter()
    shots = config.profile.shots or settings.sample_shots
    results, panels = [], {}
    problems = graphs(nodes=settings.nodes)
    bar = tqdm(total=len(problems) * len(depths), desc="qaoa", unit="depth", disable=not config.progress)
    for name, edges in problems.items():
        n = max(max(e) for e in edges) + 1
        best = max_cut(edges, n)
        gammas, betas = torch.tensor([START[0]], dtype=torch.float64), torch.tensor([START[1]], dtype=torch.float64)
        for depth in depths:
            if depth > 1:
                gammas, betas = interpolate(gammas), interpolate(betas)
            layer, history = train_depth(edges, (gammas, betas), config.profile, config.epochs)
            gammas = layer.qlayer.qnode_weights["gammas"].detach().clone()
            betas = layer.qlayer.qnode_weights["betas"].detach().clone()
            bits, frequency = most_probable(edges, n, layer, config.profile, shots)
            results.append(
                {
                    "graph": name,
                    "nodes": n,
                    "edges": edges,
                    "depth": depth,
                    "max_cut": best,
                    "expected_cut": history[-1],
                    "approximation_ratio": history[-1] / best,
                    "most_probable_bitstring": "".join(map(str, bits)),
                    "its_frequency": frequency,
                    "its_cut": cut_size(bits, edges),
                    "optimal": cut_size(bits, edges) == best,
                    "gammas": gammas.tolist(),
                    "betas": betas.tolist(),
                }
            )
            panels.setdefault(f"p = {depth}", {})[name] = [c / best for c in history]
            bar.update(1)
    bar.close()
    plot_panels(
        panels,
        out / "loss.png",
        f"qaoa on {config.profile.name}: expected cut / max cut",
        "Adam step",
        "approximation ratio",
        log=False,
    )
    deepest = [r for r in results if r["depth"] == max(depths)]
    ratios = {str(p): float(np.mean([r["approximation_ratio"] for r in results if r["depth"] == p])) for p in depths}
    return write_metrics(
        out,
        {
            **config.metadata("qaoa"),
            "sample_shots": shots,
            "results": results,
            "mean_approximation_ratio": ratios,
            "all_optimal_at_deepest": all(r["optimal"] for r in deepest),
            "summary": "mean approximation ratio "
            + ", ".join(f"p={p}: {v:.3f}" for p, v in ratios.items())
            + f"; most probable bitstring optimal on {sum(r['optimal'] for r in deepest)} of {len(deepest)} "
            f"graphs at p={max(depths)}",
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
