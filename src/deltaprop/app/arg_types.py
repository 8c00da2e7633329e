"""Argument types of the ``deltaprop`` command: each turns one option's text into its value
or raises :class:`argparse.ArgumentTypeError` naming the text received."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "batch_size_value",
    "fraction",
    "gradcheck_samples",
    "name_list",
    "nonneg_float",
    "positive_float",
    "positive_int",
    "seed_value",
    "size_list",
]

MAX_UNITS = 65536
"""The most units a hidden layer may have (``--hidden``): a larger one cannot be allocated
next to another of its size (2**32 weights), and no table needs it."""
MAX_SEED = 2**32 - 1
"""The largest ``--seed`` (NumPy's and scikit-learn's ``random_state`` take 0 .. 2**32 - 1)."""


MAX_GRADCHECK_SAMPLES = 10_000
"""The most examples ``gradcheck --samples`` takes: the differences cost two passes per
parameter, and a few examples reach every path (more only allocate: 1e10 asked 224 GiB)."""


def gradcheck_samples(text: str) -> int:
    value = positive_int(text)
    if value > MAX_GRADCHECK_SAMPLES:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer of at most {MAX_GRADCHECK_SAMPLES}, got {text!r}"
        )
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _finite_float(text: str, what: str, ok: Callable[[float], bool]) -> float:
    """``text`` as a finite float for which ``ok`` holds, else an error naming ``what``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not (ok(value) and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _finite_float(text, "a positive number", lambda v: v > 0)


def nonneg_float(text: str) -> float:
    return _finite_float(text, "a number >= 0", lambda v: v >= 0)


def fraction(text: str) -> float:
    value = nonneg_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def size_list(text: str) -> tuple[int, ...]:
    """``"64,32"`` → ``(64, 32)``; ``""`` or ``"none"`` → no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(t) for t in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 64,32, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    if any(s > MAX_UNITS for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be at most {MAX_UNITS}, got {text!r}")
    return sizes


def seed_value(text: str) -> int:
    """An integer seed in ``0 .. 2**32 - 1``."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def name_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def batch_size_value(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)
