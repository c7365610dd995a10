"""bridge.expressions.to_sympy against Qiskit's own numeric binding, on random expression trees."""

from __future__ import annotations

import random

import pytest
import sympy
from qiskit.circuit import Parameter, ParameterVector

from bridge.expressions import to_sympy

PARAMETERS = [Parameter("a"), Parameter("b"), *ParameterVector("w", 2)]
UNARY = ["sin", "cos", "exp", "arctan"]


def _random_expression(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(PARAMETERS) if rng.random() < 0.7 else rng.choice([-0.5, 2.0, 3])
    kind = rng.choice(["+", "-", "*", "/", "r-", "r/", "unary", "neg"])
    lhs = _random_expression(rng, depth - 1)
    rhs = _random_expression(rng, depth - 1)
    if kind == "unary":
        base = lhs if hasattr(lhs, "parameters") else PARAMETERS[0] + lhs
        return getattr(base, rng.choice(UNARY))()
    if kind == "neg":
        return -(lhs if hasattr(lhs, "parameters") else PARAMETERS[1] * lhs)
    number = rng.choice([-0.5, 1.5, 3])
    if kind == "r-":
        return number - (lhs if hasattr(lhs, "parameters") else PARAMETERS[2] + lhs)
    if kind == "r/":
        return number / (1.5 + (lhs if hasattr(lhs, "parameters") else PARAMETERS[3]).sin())
    if kind == "/":
        return lhs / (2.5 + (rhs if hasattr(rhs, "parameters") else PARAMETERS[0]).cos())
    return {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[kind](lhs, rhs)


@pytest.mark.parametrize("seed", range(60))
def test_random_expressions_match_qiskits_binding(seed):
    rng = random.Random(seed)
    expression = _random_expression(rng, depth=4)
    if not hasattr(expression, "parameters") or not expression.parameters:
        expression = expression + PARAMETERS[0]
    converted = to_sympy(expression, check=False)
    for _ in range(3):
        values = {p: rng.uniform(-1.2, 1.2) for p in expression.parameters}
        expected = complex(expression.bind(values))
        got = complex(converted.subs({sympy.Symbol(p.name): v for p, v in values.items()}).evalf())
        assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected)), f"{expression} → {converted}"


def test_the_expression_that_qiskits_sympify_gets_wrong():
    a, b = PARAMETERS[:2]
    assert to_sympy((-0.5) * (a - 3 * b)) == sympy.sympify("-0.5*a + 1.5*b")


def test_a_wrong_reading_is_caught_by_the_check(monkeypatch):
    """The check at one random point against Qiskit's binding is what stops a misread operation being used."""
    import bridge.expressions as expressions

    monkeypatch.setitem(expressions._BINARY, "SUB", lambda lhs, rhs: rhs - lhs)
    a, b = PARAMETERS[:2]
    with pytest.raises(ValueError, match="differs from Qiskit's own value"):
        to_sympy((-0.5) * (a - 3 * b))
