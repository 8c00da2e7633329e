"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import numpy as np
import pytest

ALL_ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def make_targets(rng: np.random.Generator, loss: str, m: int, n: int) -> np.ndarray:
    """Targets in the domain of ``loss``: one-hot, probabilities, counts or reals."""
    if loss == "categorical_crossentropy":
        return np.eye(n)[rng.integers(0, n, m)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (m, n)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (m, n)).astype(float)
    return rng.normal(size=(m, n))
