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
``sklearn_uniform``           ``U(±√(6 / (fan_in + fan_out)))``
============================  ========================================

``sklearn_uniform`` is the estimators' default: they then draw every layer's weights *and
biases* as scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` do, with
:func:`draw_sklearn_uniform` (``U(±√(factor / (fan_in + fan_out)))``, ``factor`` 6, or 2 for
a logistic hidden activation, for every layer: :func:`sklearn_factor`). A
:class:`~deltaprop.core.network.Network` given the name alone draws its weights with
``factor=6`` and leaves its biases at zero, as for every other name.

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

__all__ = [
    "INITIALIZERS",
    "default_initializer",
    "draw_sklearn_uniform",
    "get_initializer",
    "sklearn_factor",
]

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


def _sklearn_bound(fan_in: int, fan_out: int, factor: float) -> float:
    return math.sqrt(factor / (fan_in + fan_out))


def sklearn_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """scikit-learn's weights for non-logistic activations: ``U(±√(6/(fan_in + fan_out)))``."""
    r = _sklearn_bound(shape[1], shape[0], 6.0)
    return rng.uniform(-r, r, size=shape)


def sklearn_factor(hidden_activations: list[str]) -> float:
    """scikit-learn's ``factor``: 2 when the hidden activation is logistic, else 6.

    scikit-learn has one hidden activation; with a list, 2 needs every hidden layer
    logistic (``"logistic"`` or its name ``"sigmoid"``). No hidden layer: 6.
    """
    names = {activation_class(a).name for a in hidden_activations}
    return 2.0 if names == {activation_class("logistic").name} else 6.0


def draw_sklearn_uniform(
    rng: np.random.Generator | np.random.RandomState,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    factor: float,
) -> None:
    """Draw every layer's weights and biases in place as scikit-learn does.

    Both from ``U(-r, r)``, ``r = √(factor / (fan_in + fan_out))``, in scikit-learn's
    ``_init_coef`` order: layer after layer, its coefficients as a ``(fan_in, fan_out)``
    array (our ``W`` is its transpose), then its intercepts. From a
    ``numpy.random.RandomState(random_state)`` these are scikit-learn's own bits for that
    integer ``random_state``.

    Parameters
    ----------
    rng : numpy.random.Generator or numpy.random.RandomState
    weights : list of ndarray, each of shape (fan_out, fan_in)
    biases : list of ndarray, each of shape (fan_out,)
    factor : float
        6, or 2 for a logistic hidden activation (:func:`sklearn_factor`).

    Examples
    --------
    >>> W, b = np.zeros((2, 3)), np.zeros(2)
    >>> draw_sklearn_uniform(np.random.RandomState(0), [W], [b], 6.0)
    >>> r = math.sqrt(6.0 / 5)
    >>> bool(np.array_equal(W.T, np.random.RandomState(0).uniform(-r, r, (3, 2))))
    True
    """
    for W, b in zip(weights, biases, strict=True):
        r = _sklearn_bound(W.shape[1], W.shape[0], factor)
        W[...] = rng.uniform(-r, r, size=(W.shape[1], W.shape[0])).T
        b[...] = rng.uniform(-r, r, size=b.shape)


INITIALIZERS: dict[str, Initializer] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "sklearn_uniform": sklearn_uniform,
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
