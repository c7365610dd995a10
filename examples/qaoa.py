"""QAOA max-cut trained with Adam, checked by brute force.

    python examples/qaoa.py           # profile from $BRIDGE_DEVICE, else "aer"

`qml-bridge train qaoa` runs seeded random graphs of 4-8 nodes at depths 1-3 and samples the result.
"""

from __future__ import annotations

import itertools

import torch

from bridge import QuantumLayer, circuits

EDGES = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4), (3, 4)]  # a 5-node graph


def quantum_layer(depth: int = 2) -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/qaoa.py:quantum_layer`` checks it."""
    start = {"gammas": lambda w: w.fill_(-0.4), "betas": lambda w: w.fill_(0.4)}
    return QuantumLayer(circuits.qaoa_maxcut(EDGES, depth), init_method=start)  # outputs <Z_i Z_j> per edge


def main(depth: int = 2, steps: int = 100) -> float:
    n = 1 + max(max(e) for e in EDGES)
    best = max(sum(b[i] != b[j] for i, j in EDGES) for b in itertools.product((0, 1), repeat=n))
    layer = quantum_layer(depth)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        expected_cut = ((1 - layer(torch.zeros(0))) / 2).sum()
        (-expected_cut).backward()
        optimizer.step()
    ratio = expected_cut.item() / best
    print(f"expected cut {expected_cut.item():.3f}, maximum cut {best}, approximation ratio {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main()
