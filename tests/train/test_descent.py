"""The seeds' gradient-descent loop and its scenarios: XOR and breast cancer
(deltaprop.train.descent)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from deltaprop import Network, gradient_descent
from deltaprop.train import DivergenceError

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


def test_one_step_is_w_minus_alpha_dw() -> None:
    rng = np.random.default_rng(0)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    X, Y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    grads = net.gradients(X, Y)
    W_before = [W.copy() for W in net.weights]
    b_before = [b.copy() for b in net.biases]
    gradient_descent(net, X, Y, learning_rate=0.3, max_iter=1, tol=0.0)
    for W, b, W0, b0, (dW, db) in zip(
        net.weights, net.biases, W_before, b_before, grads, strict=True
    ):
        np.testing.assert_allclose(W, W0 - 0.3 * dW, rtol=1e-15)
        np.testing.assert_allclose(b, b0 - 0.3 * db, rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_steps_are_bitwise_the_seeds_loop(dtype: str) -> None:
    """The SGD steps equal, bit for bit, the hand-written ``θ -= α ∇θ`` loop they replace."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    w = rng.uniform(0.5, 2.0, 20)
    net = Network([3, 5, 1], "tanh", "bce", seed=0, dtype=dtype)
    ref = Network([3, 5, 1], "tanh", "bce", seed=0, dtype=dtype)
    history = gradient_descent(net, X, Y, learning_rate=0.7, max_iter=25, tol=0.0, sample_weight=w)
    Xr, Yr = ref.check_X(X), ref.check_Y(Y, 20)
    wr = ref.check_sample_weight(w, 20)
    expected = []
    for _ in range(25):
        expected.append(ref.backward(Xr, Yr, wr, training=True))
        ref.parameters -= 0.7 * ref.grad
    assert history == expected
    np.testing.assert_array_equal(net.parameters, ref.parameters)


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_xor_reaches_100_percent(hidden: str) -> None:
    net = Network([2, 8, 1], [hidden, "sigmoid"], "bce", seed=1)
    history = gradient_descent(net, XOR_X, XOR_Y, learning_rate=2.0, max_iter=5000, tol=1e-10)
    assert history[-1] < history[0]
    pred = (net.forward(XOR_X).ravel() > 0.5).astype(float)
    np.testing.assert_array_equal(pred, XOR_Y)


def test_breast_cancer_above_95_percent() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    net = Network([30, 16, 1], ["relu", "sigmoid"], "bce", seed=0)
    history = gradient_descent(net, scaler.transform(X_tr), y_tr, learning_rate=0.5, max_iter=500)
    acc = ((net.forward(scaler.transform(X_te)).ravel() > 0.5) == y_te).mean()
    assert acc > 0.95
    assert all(np.diff(history[:50]) < 0)  # full-batch descent with a sane step decreases J


def test_stops_when_cost_stalls() -> None:
    net = Network([2, 4, 1], "tanh", "bce", seed=0)
    history = gradient_descent(net, XOR_X, XOR_Y, learning_rate=0.5, max_iter=100000, tol=1e-3)
    assert len(history) < 100000
    assert abs(history[-1] - history[-2]) < 1e-3


def test_divergence_stops_with_a_clear_message_and_finite_weights() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(scale=100, size=(50, 3))
    Y = X @ np.array([[1.0], [2.0], [3.0]])
    net = Network([3, 8, 1], ["relu", "identity"], "mse", seed=0)
    with pytest.raises(DivergenceError, match=r"diverged at iteration \d+.*smaller learning_rate"):
        gradient_descent(net, X, Y, learning_rate=1e3, max_iter=100)
    assert np.isfinite(net.parameters).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"learning_rate": 0},
            r"learning_rate must be a positive finite number. Received: learning_rate=0",
        ),
        ({"learning_rate": float("nan")}, r"learning_rate"),
        ({"max_iter": 0}, r"max_iter must be a positive integer. Received: max_iter=0"),
        ({"tol": -1.0}, r"tol must be a non-negative number"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gradient_descent(Network([2, 1], "sigmoid", "bce"), XOR_X, XOR_Y, **kwargs)
