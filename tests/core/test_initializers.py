"""Initializers: the stated distributions, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.core.initializers import INITIALIZERS, default_initializer, get_initializer

STD = {
    "he_normal": lambda fi, fo: np.sqrt(2 / fi),
    "he_uniform": lambda fi, fo: np.sqrt(6 / fi) / np.sqrt(3),
    "glorot_uniform": lambda fi, fo: np.sqrt(6 / (fi + fo)) / np.sqrt(3),
    "glorot_normal": lambda fi, fo: np.sqrt(2 / (fi + fo)),
    "lecun_normal": lambda fi, fo: np.sqrt(1 / fi),
    "lecun_uniform": lambda fi, fo: np.sqrt(3 / fi) / np.sqrt(3),
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
