"""The gradient check itself, and the seeds' two mistakes, which it catches."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop import Network, gradcheck, gradient_descent


def _xor_like(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(12, 3))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    return X, Y


def test_report_names_every_array() -> None:
    rng = np.random.default_rng(0)
    net = Network([3, 4, 2, 1], ["tanh", "relu", "sigmoid"], "bce", seed=0)
    X, Y = _xor_like(rng)
    result = gradcheck(net, X, Y)
    assert list(result.relative_errors) == ["W[1]", "b[1]", "W[2]", "b[2]", "W[3]", "b[3]"]
    text = str(result)
    assert "W[1]" in text and "max rel. error" in text
    assert result.analytic.shape == result.numeric.shape == (net.n_params,)


def test_parameters_restored_exactly() -> None:
    rng = np.random.default_rng(0)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    before = net.parameters.copy()
    gradcheck(net, *_xor_like(rng))
    assert net.parameters.tobytes() == before.tobytes()


def seed000_dW1(net: Network, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Seed 000 as written: dW[1] = (1/m) dZ[2] -- not even the shape of W[1]."""
    m = X.shape[0]
    dZ2 = net.forward(X) - Y
    return dZ2.sum(axis=0, keepdims=True).T / m


def test_seed000_dW1_typo_would_fail() -> None:
    rng = np.random.default_rng(1)
    net = Network([3, 4, 1], ["sigmoid", "sigmoid"], "bce", seed=0)
    X, Y = _xor_like(rng)
    numeric = gradcheck(net, X, Y).numeric[: net.weights[0].size].reshape(net.weights[0].shape)
    typo = seed000_dW1(net, X, Y)
    assert typo.shape != numeric.shape  # (1, 1) against W[1]'s (4, 3)
    assert not np.allclose(np.broadcast_to(typo, numeric.shape), numeric, rtol=1e-3)
    (dW1, _), _ = net.gradients(X, Y)
    np.testing.assert_allclose(dW1, numeric, rtol=1e-7)  # ours: dZ[1] A[0]ᵀ / m


def seed001_step(net: Network, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    """Seed 001's pseudocode, faithfully: gradients appended from the last layer to the
    first, then applied with ``for l in range(num_layers)`` from the first layer on."""
    grads = net.gradients(X, Y)
    reversed_list = list(reversed(grads))  # what gradients.append builds, layer L first
    for l in range(net.n_layers):
        net.weights[l][...] -= lr * reversed_list[l][0]
        net.biases[l][...] -= lr * reversed_list[l][1]


def test_seed001_reversed_gradient_list_would_fail() -> None:
    rng = np.random.default_rng(2)
    # Square layers, so that the wrongly matched shapes do not even raise.
    X = rng.normal(size=(20, 3))
    Y = (X.sum(axis=1, keepdims=True) > 0).astype(float) * np.ones((1, 3))
    good = Network([3, 3, 3, 3], ["tanh", "tanh", "sigmoid"], "bce", seed=0)
    bad = Network([3, 3, 3, 3], ["tanh", "tanh", "sigmoid"], "bce", seed=0)
    good.gradients(X, Y)
    expected = good.parameters - 0.5 * good.grad
    gradient_descent(good, X, Y, learning_rate=0.5, max_iter=1, tol=0.0)
    np.testing.assert_allclose(good.parameters, expected, rtol=1e-14)
    seed001_step(bad, X, Y, 0.5)
    assert not np.allclose(bad.parameters, expected, rtol=1e-6)
    # And the seeds' loop with the reversed list does not learn: ours does.
    costs_bad = []
    for _ in range(200):
        seed001_step(bad, X, Y, 0.5)
        costs_bad.append(bad.cost(X, Y))
    gradient_descent(good, X, Y, learning_rate=0.5, max_iter=200, tol=0.0)
    assert good.cost(X, Y) < 0.5 * min(costs_bad)


def test_float32_network_is_checked_loosely_but_honestly() -> None:
    """float32's own step and floor (1e-2): agreement to 1e-2, which h=1e-4 missed (0.52)."""
    rng = np.random.default_rng(3)
    net = Network([3, 4, 1], "tanh", "bce", seed=0, dtype="float32")
    result = gradcheck(net, *_xor_like(rng))
    assert result.max_relative_error < 1e-2
    assert gradcheck(net, *_xor_like(np.random.default_rng(3)), h=1e-4).max_relative_error > 1e-2
    assert result.max_relative_error > 1e-10  # float32 cannot match to float64 precision


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_step_across_a_relu_kink_is_measured_again_or_left_out(dtype: str) -> None:
    """A unit exactly at z = 0 for one example: differences across the kink average its two
    slopes (errors near 0.5 before); smaller steps, or leaving the entry out, pass."""
    rng = np.random.default_rng(5)
    net = Network([3, 5, 2], ["relu", "softmax"], "ce", seed=0, dtype=dtype)
    X = rng.normal(size=(6, 3))
    Y = np.eye(2)[rng.integers(0, 2, 6)]
    W, b = net.weights[0], net.biases[0]
    b[0] = -(W[0] @ X[0])  # unit 0 of the hidden layer sits on its kink for example 0
    result = gradcheck(net, X, Y)
    assert sum(result.kinks.values()) > 0  # W[1]'s row 0 and b[1][0] move it across
    assert str(result).endswith(
        f"{sum(result.kinks.values())} entries not compared (a step crossed a kink)"
    )
    assert result.max_relative_error < (1e-6 if dtype == "float64" else 1e-2)
    smooth = gradcheck(Network([3, 5, 2], ["tanh", "softmax"], "ce", seed=0), X, Y)
    assert sum(smooth.kinks.values()) == 0


@pytest.mark.parametrize("h", [1e-3, 1e-4, 1e-5])
def test_step_size_is_robust(h: float) -> None:
    rng = np.random.default_rng(4)
    net = Network([3, 5, 2], "softplus", "ce", seed=0)
    X = rng.normal(size=(7, 3))
    Y = np.eye(2)[rng.integers(0, 2, 7)]
    assert gradcheck(net, X, Y, h=h).max_relative_error < 1e-6
