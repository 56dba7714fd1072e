"""Integer and float arithmetic, and a seeded random integer."""

import math
import operator
import random
from collections.abc import Callable

from graphflow.api import FLOAT, INT, Context, Input, Output, enum_type, hookimpl, node

_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "power": operator.pow,
    "min": min,
    "max": max,
}
_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "floor_divide": operator.floordiv,
    "modulo": operator.mod,
    "min": min,
    "max": max,
}


@node("graphflow.math.float", version="1.0.0", title="Float Math", category="math")
class FloatMath:
    """Combine two real numbers with an arithmetic operation."""

    a = Input(FLOAT, default=0.0)
    b = Input(FLOAT, default=0.0)
    operation = Input(enum_type("FLOAT_OP", list(_FLOAT_OPS)), default="add", source="literal")
    result = Output(FLOAT)

    def run(self, ctx: Context, a: float, b: float, operation: str) -> float:
        if operation == "divide" and b == 0:
            raise ZeroDivisionError("cannot divide by zero (input b is 0)")
        try:
            value = _FLOAT_OPS[operation](a, b)
        except OverflowError:  # float ** float past 1.8e308 raises where float * float gives inf
            value = math.inf
        if isinstance(value, complex) or not math.isfinite(value):
            raise ValueError(f"{operation}({a}, {b}) has no finite real result")
        return float(value)


@node("graphflow.math.int", version="1.0.0", title="Integer Math", category="math")
class IntMath:
    """Combine two whole numbers with an arithmetic operation."""

    a = Input(INT, default=0)
    b = Input(INT, default=0)
    operation = Input(enum_type("INT_OP", list(_INT_OPS)), default="add", source="literal")
    result = Output(INT)

    def run(self, ctx: Context, a: int, b: int, operation: str) -> int:
        if operation in ("floor_divide", "modulo") and b == 0:
            raise ZeroDivisionError(f"cannot {operation.replace('_', ' ')} by zero (input b is 0)")
        return _INT_OPS[operation](a, b)


@node("graphflow.math.to_int", version="1.0.0", title="Round to Integer", category="math")
class ToInt:
    """Round a real number to the nearest whole number."""

    value = Input(FLOAT, default=0.0)
    result = Output(INT)

    def run(self, ctx: Context, value: float) -> int:
        return round(value)


@node("graphflow.math.random_int", version="1.0.0", title="Random Integer", category="math", cacheable=False)
class RandomInt:
    """A fresh random whole number in [low, high] on every run."""

    low = Input(INT, default=0)
    high = Input(INT, default=2**31 - 1)
    result = Output(INT)

    def run(self, ctx: Context, low: int, high: int) -> int:
        if low > high:
            raise ValueError(f"low ({low}) is above high ({high})")
        return random.SystemRandom().randint(low, high)


@hookimpl
def register_nodes(register) -> None:
    """Provide the math nodes."""
    for cls in (FloatMath, IntMath, ToInt, RandomInt):
        register(cls)
