"""Argument checks shared by the numeric modules: one message format everywhere.

Every failure is a ``ValueError`` that names the argument and the value received, in
Keras's words: ``"learning_rate must be a positive finite float. Received: learning_rate=-1"``.
NumPy scalars count as numbers; booleans do not.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_int", "check_real"]


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    what: str,
) -> float:
    """Return ``value`` as a float after checking it is finite and in the given interval."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if ok:
        v = float(value)
        ok = math.isfinite(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")
    return float(value)


def check_int(name: str, value: Any, *, low: int, what: str) -> int:
    """Return ``value`` as an int after checking it is an integer ``>= low``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if not ok or int(value) < low:
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a bool after checking it is one (Python's or NumPy's)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a bool. Received: {name}={value!r}")
    return bool(value)
