"""Initializers: the stated distributions, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.core.initializers import (
    INITIALIZERS,
    default_initializer,
    draw_sklearn_uniform,
    get_initializer,
    sklearn_factor,
)

STD = {
    "he_normal": lambda fi, fo: np.sqrt(2 / fi),
    "he_uniform": lambda fi, fo: np.sqrt(6 / fi) / np.sqrt(3),
    "glorot_uniform": lambda fi, fo: np.sqrt(6 / (fi + fo)) / np.sqrt(3),
    "glorot_normal": lambda fi, fo: np.sqrt(2 / (fi + fo)),
    "lecun_normal": lambda fi, fo: np.sqrt(1 / fi),
    "lecun_uniform": lambda fi, fo: np.sqrt(3 / fi) / np.sqrt(3),
    "sklearn_uniform": lambda fi, fo: np.sqrt(6 / (fi + fo)) / np.sqrt(3),
}


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_standard_deviation(name: str) -> None:
    fan_out, fan_in = 300, 500
    W = get_initializer(name)(np.random.default_rng(0), (fan_out, fan_in))
    assert W.shape == (fan_out, fan_in)
    np.testing.assert_allclose(W.std(), STD[name](fan_in, fan_out), rtol=0.01)
    assert abs(W.mean()) < 0.01 * W.std() * 10
    if "uniform" in name:
        assert np.abs(W).max() <= STD[name](fan_in, fan_out) * np.sqrt(3)


def test_seeded_and_defaults() -> None:
    a = get_initializer("he")(np.random.default_rng(7), (3, 4))
    b = get_initializer("he_normal")(np.random.default_rng(7), (3, 4))
    assert np.array_equal(a, b)
    assert default_initializer("relu") == "he_normal"
    assert default_initializer("tanh") == "glorot_uniform"
    with pytest.raises(
        ValueError, match=r"Could not interpret initializer identifier: 'zeros'.*he_normal"
    ):
        get_initializer("zeros")


@pytest.mark.parametrize("factor", [6.0, 2.0])
def test_draw_sklearn_uniform_draws_weights_and_biases(factor: float) -> None:
    """scikit-learn's _init_coef: W and b from U(±√(factor/(fan_in + fan_out)))."""
    weights, biases = [np.zeros((300, 500)), np.zeros((2, 300))], [np.zeros(300), np.zeros(2)]
    draw_sklearn_uniform(np.random.default_rng(0), weights, biases, factor)
    for W, b in zip(weights, biases, strict=True):
        bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
        for values in (W, b):
            assert np.abs(values).max() <= bound and np.count_nonzero(values) == values.size
        assert np.abs(W).max() > 0.99 * bound and W.std() == pytest.approx(
            bound / np.sqrt(3), rel=0.01
        )
    assert np.abs(biases[0]).max() > 0.95 * np.sqrt(factor / 800)  # uniform up to the bound


def test_sklearn_factor_is_two_for_logistic_only() -> None:
    assert sklearn_factor(["logistic"]) == sklearn_factor(["sigmoid", "logistic"]) == 2.0
    assert sklearn_factor(["relu"]) == sklearn_factor(["logistic", "tanh"]) == 6.0
    assert sklearn_factor([]) == 6.0
