"""Qiskit ``ParameterExpression`` → SymPy, correctly.

Qiskit 2.3's own ``ParameterExpression.sympify()`` swaps the operands of a non-commutative operation whose *right*
operand is a sub-expression: ``(-0.5) * (a - 3*b)`` comes back as ``0.5*a - 1.5*b`` (pinned in
``tests/qiskit/test_pins.py``). Transpiling ``crx(w0 - 3*w1)`` produces exactly such angles, so both the PennyLane
translation of a Qiskit circuit and the reference rebuild the expression here instead, from the same replay
(``expression._qpy_replay``, the postfix program QPY serialises), with each ``None`` operand taken from the stack
in its own position.

The result is checked against Qiskit's numeric binding in ``tests/test_expressions.py`` on random expression
trees, and :func:`to_sympy` checks every expression it converts at one random point (``check=True``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import sympy
from qiskit.circuit import Parameter, ParameterExpression

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "ADD": lambda lhs, rhs: lhs + rhs,
    "SUB": lambda lhs, rhs: lhs - rhs,
    "MUL": lambda lhs, rhs: lhs * rhs,
    "DIV": lambda lhs, rhs: lhs / rhs,
    "POW": lambda lhs, rhs: lhs**rhs,
    # the reflected operations record the expression as lhs and the plain number as rhs: ``2 - a`` is RSUB(a, 2)
    "RSUB": lambda lhs, rhs: rhs - lhs,
    "RDIV": lambda lhs, rhs: rhs / lhs,
    "RPOW": lambda lhs, rhs: rhs**lhs,
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "SIN": sympy.sin,
    "COS": sympy.cos,
    "TAN": sympy.tan,
    "ASIN": sympy.asin,
    "ACOS": sympy.acos,
    "ATAN": sympy.atan,
    "EXP": sympy.exp,
    "LOG": sympy.log,
    "ABS": sympy.Abs,
    "SIGN": sympy.sign,
    "CONJ": sympy.conjugate,
}


def to_sympy(expression: ParameterExpression | float, *, check: bool = True) -> sympy.Expr:
    """The SymPy expression equal to a Qiskit parameter expression; each parameter becomes ``Symbol(name)``.

    ``check`` compares the result with Qiskit's own numeric binding at one random point and raises ``ValueError``
    when they differ (an operation this converter reads wrongly is never silently used).
    """
    if not isinstance(expression, ParameterExpression):
        return sympy.sympify(expression)
    if isinstance(expression, Parameter):
        return sympy.Symbol(expression.name)
    try:  # a constant, possibly one that still lists the parameters it cancelled (``b - b``)
        return sympy.sympify(expression.numeric(strict=False))
    except TypeError:
        pass
    stack: list[Any] = []
    for instruction in expression._qpy_replay:
        name = str(instruction.op).rpartition(".")[2]  # OpCode.SUB → "SUB"
        if name in _BINARY:
            rhs = _operand(instruction.rhs, stack)
            lhs = _operand(instruction.lhs, stack)
            stack.append(_BINARY[name](lhs, rhs))
        elif name in _UNARY:
            stack.append(_UNARY[name](_operand(instruction.lhs, stack)))
        else:
            raise ValueError(
                f"Qiskit parameter expression {expression} uses the operation {name}, which qml-bridge "
                "cannot convert; bind or simplify that angle before converting the circuit"
            )
    if len(stack) != 1:
        raise ValueError(f"Qiskit parameter expression {expression}: its replay left {len(stack)} values, not one")
    result = sympy.sympify(stack[0])
    if check:
        _check(expression, result)
    return result


def _operand(value: Any, stack: list[Any]) -> Any:
    """An operand of the replay: ``None`` means the last value computed (popped from the stack)."""
    if value is None:
        return stack.pop()
    if isinstance(value, ParameterExpression):
        return to_sympy(value, check=False)
    return sympy.sympify(value)


def _check(expression: ParameterExpression, result: sympy.Expr) -> None:
    rng = random.Random(hash(str(expression)) & 0xFFFF)
    values = {p: rng.uniform(0.1, 1.3) for p in expression.parameters}
    try:
        expected = complex(expression.bind(values, allow_unknown_parameters=False))
    except (ZeroDivisionError, ValueError, TypeError):
        return  # a point outside the expression's domain; nothing to compare there
    got = complex(result.subs({sympy.Symbol(p.name): v for p, v in values.items()}).evalf())
    if not math.isclose(abs(got - expected), 0.0, abs_tol=1e-9 * max(1.0, abs(expected))):
        raise ValueError(
            f"converting the Qiskit parameter expression {expression} to SymPy gave {result}, which "
            f"differs from Qiskit's own value ({got} vs {expected}); please report this expression"
        )
