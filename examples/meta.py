"""Meta-learning: an LSTM learns to optimize a one-qubit rotation, then races Adam on unseen targets.

python examples/meta.py           # profile from $BRIDGE_DEVICE, else "aer"
"""

from __future__ import annotations

import torch
from torch import nn

from bridge import QuantumLayer, circuits


def quantum_layer() -> QuantumLayer:
    """The example's quantum layer: ``qml-bridge verify --model examples/meta.py:quantum_layer`` checks it."""
    return QuantumLayer(circuits.ry_rotation())  # input theta -> <Z> = cos(theta); a batch = many problems


circuit = quantum_layer()


def expectation(theta: torch.Tensor) -> torch.Tensor:
    return circuit(theta.unsqueeze(-1)).squeeze(-1)


class NeuralOptimizer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(2, 20)
        self.step = nn.Linear(20, 1)

    def forward(self, observed, state):
        h, c = self.cell(observed, state)
        return self.step(h).squeeze(-1), (h, c)


def optimize(net: NeuralOptimizer, target: torch.Tensor, steps: int, train: bool) -> tuple[torch.Tensor, list]:
    """Run the learned optimizer from theta = 0.1; return the summed loss and |<Z> - t| per step."""
    theta, state, total, residuals = torch.full_like(target, 0.1, requires_grad=True), None, 0.0, []
    for _ in range(steps):
        z = expectation(theta)
        loss = (z - target) ** 2
        (grad,) = torch.autograd.grad(loss.sum(), theta, retain_graph=train)
        residuals.append((z - target).abs().detach())
        total = total + loss.mean()
        delta, state = net(torch.stack([grad.detach(), (z - target).detach()], -1).float(), state)
        theta = theta + delta.double() if train else (theta + delta.double()).detach().requires_grad_(True)
    return total, residuals


def first_within(residuals: list, tolerance: float = 0.01) -> float:
    table = torch.stack(residuals)
    hits = [next((k for k in range(len(table)) if table[k, i] <= tolerance), len(table)) for i in range(table.shape[1])]
    return sum(hits) / len(hits)


def main(iterations: int = 100) -> tuple[float, float]:
    torch.manual_seed(0)
    net = NeuralOptimizer()
    meta = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(iterations):
        meta.zero_grad()
        loss, _ = optimize(net, torch.rand(32, dtype=torch.float64) * 1.8 - 0.9, 15, train=True)
        loss.backward()
        meta.step()
    unseen = torch.rand(20, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1.8 - 0.9
    _, learned = optimize(net, unseen, 50, train=False)
    theta = torch.full_like(unseen, 0.1, requires_grad=True)
    adam, adam_residuals = torch.optim.Adam([theta], lr=0.1), []
    for _ in range(50):
        adam.zero_grad()
        z = expectation(theta)
        adam_residuals.append((z - unseen).abs().detach())
        ((z - unseen) ** 2).sum().backward()
        adam.step()
    a, b = first_within(learned), first_within(adam_residuals)
    print(f"mean steps to |<Z> - t| <= 0.01 over 20 unseen targets: learned {a:.1f}, Adam {b:.1f} (50 = never)")
    return a, b


if __name__ == "__main__":
    main()
