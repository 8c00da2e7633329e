"""The error of a training run whose loss became NaN or infinite."""

from __future__ import annotations

__all__ = ["DivergenceError"]


class DivergenceError(ValueError, FloatingPointError):
    """Raised when the cost becomes NaN or infinite; the weights are the last good ones."""
