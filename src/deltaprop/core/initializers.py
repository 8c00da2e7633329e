"""Weight initializers: He, Glorot (Xavier), LeCun, in normal and uniform forms.

Each takes a ``numpy.random.Generator`` (randomness is passed in, never global) and the
weight shape ``(n_l, n_{l-1})`` = ``(fan_out, fan_in)``, and returns float64 values that the
network casts to its dtype. Biases start at zero.

============================  ========================================
name                          distribution
============================  ========================================
``he_normal`` (``he``)        ``N(0, 2 / fan_in)``
``he_uniform``                ``U(±√(6 / fan_in))``
``glorot_uniform``            ``U(±√(6 / (fan_in + fan_out)))``
``glorot_normal``             ``N(0, 2 / (fan_in + fan_out))``
``lecun_normal`` (``lecun``)  ``N(0, 1 / fan_in)``
``lecun_uniform``             ``U(±√(3 / fan_in))``
============================  ========================================

>>> import numpy as np
>>> from deltaprop.core.initializers import get_initializer
>>> W = get_initializer("he")(np.random.default_rng(0), (3, 4))
>>> W.shape
(3, 4)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deltaprop.core.activations import activation_class
from deltaprop.core.registry import lookup

__all__ = ["INITIALIZERS", "default_initializer", "get_initializer"]

Initializer = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def he_normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """He et al. (2015): ``N(0, 2/fan_in)``, for ReLU-like activations."""
    return rng.normal(0.0, math.sqrt(2.0 / shape[1]), size=shape)


def he_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """He uniform: ``U(-r, r)`` with ``r = √(6/fan_in)``."""
    r = math.sqrt(6.0 / shape[1])
    return rng.uniform(-r, r, size=shape)


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Glorot & Bengio (2010): ``U(-r, r)`` with ``r = √(6/(fan_in + fan_out))``."""
    r = math.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-r, r, size=shape)


def glorot_normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Glorot normal: ``N(0, 2/(fan_in + fan_out))``."""
    return rng.normal(0.0, math.sqrt(2.0 / (shape[0] + shape[1])), size=shape)


def lecun_normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """LeCun (1998): ``N(0, 1/fan_in)``."""
    return rng.normal(0.0, math.sqrt(1.0 / shape[1]), size=shape)


def lecun_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """LeCun uniform: ``U(-r, r)`` with ``r = √(3/fan_in)``."""
    r = math.sqrt(3.0 / shape[1])
    return rng.uniform(-r, r, size=shape)


INITIALIZERS: dict[str, Initializer] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
}
_ALIASES = {"he": "he_normal", "glorot": "glorot_uniform", "xavier": "glorot_uniform",
            "lecun": "lecun_normal"}  # fmt: skip


def default_initializer(activation: str) -> str:
    """``"he_normal"`` for ReLU-like activations (their class's ``relu_like``),
    ``"glorot_uniform"`` otherwise (an unknown name included)."""
    try:
        relu_like = activation_class(activation).relu_like
    except ValueError:
        relu_like = False
    return "he_normal" if relu_like else "glorot_uniform"


def get_initializer(name: str) -> Initializer:
    """Resolve an initializer by name.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    return lookup(name, INITIALIZERS, _ALIASES, "initializer", extra_names=("auto",))
