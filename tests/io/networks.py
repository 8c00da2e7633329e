"""Networks for the model-file tests: one with moved batch-norm statistics, and equality."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import Network


# --------------------------------------------------------------------------- helpers
def trained_net(dtype: str = "float64", **kwargs: Any) -> Network:
    """A small network whose batch-norm running statistics have moved off (0, 1)."""
    rng = np.random.default_rng(0)
    net = Network(seed=0, dtype=dtype, **kwargs)
    X = rng.normal(size=(40, net.layer_sizes[0]))
    for _ in range(3):
        net.forward(X, training=True)
    net.parameters += 0.01 * rng.normal(size=net.n_params).astype(net.dtype)
    return net


def assert_same_network(a: Network, b: Network, X: np.ndarray) -> None:
    assert a.get_config() == b.get_config()
    assert a.parameters.dtype == b.parameters.dtype
    np.testing.assert_array_equal(a.parameters, b.parameters)
    for (ka, va), (kb, vb) in zip(a.buffers(), b.buffers(), strict=True):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
