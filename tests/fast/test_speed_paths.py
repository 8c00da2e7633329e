"""The hot loop's fast paths: preallocated buffers and the compiled kernels of
:mod:`deltaprop.core.fused` give the results of the plain NumPy path, and a training step
allocates nothing once the buffers exist."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from deltaprop import Callback, Network, Trainer
from deltaprop.core import fused as _fused
from deltaprop.core.activations import Activation, Softmax

numba = pytest.importorskip("numba")

SIZES = [64, 80, 40, 16]  # 9,496 parameters: above _fused.MIN_SIZE, so the kernels load


@pytest.fixture
def fused_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The kernels on, for every size (the small layers of the test networks included)."""
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    previous = _fused.set_enabled(True)
    kernels = _fused.get(1)
    assert kernels is not None
    yield kernels
    _fused.set_enabled(previous)


@pytest.fixture
def fused_off() -> Iterator[None]:
    previous = _fused.set_enabled(False)
    yield
    _fused.set_enabled(previous)


def _data(dtype: str, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, SIZES[0])).astype(dtype)
    Y = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], n)]
    return X, Y


def _train(fused: bool, dtype: str, **kw: Any) -> tuple[np.ndarray, list[float], list[list[float]]]:
    previous = _fused.set_enabled(fused)
    try:
        X, Y = _data(dtype)
        net = Network(SIZES, "relu", "ce", seed=0, dtype=dtype)
        opts = {"learning_rate": 1e-3, "batch_size": 64, "epochs": 4, "seed": 1, "tol": 0.0}
        h = Trainer(net, "adam", **{**opts, **kw}).fit(X, Y)
        return net.parameters.copy(), h.loss, h.grad_norms
    finally:
        _fused.set_enabled(previous)


# --------------------------------------------------------------------------- trajectories
@pytest.mark.parametrize(("dtype", "rtol"), [("float32", 2e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("kw", [{}, {"alpha": 0.1, "shuffle": False}])
def test_fused_and_numpy_paths_train_the_same(dtype: str, rtol: float, kw: dict) -> None:
    p_np, loss_np, norms_np = _train(False, dtype, **kw)
    p_fu, loss_fu, norms_fu = _train(True, dtype, **kw)
    assert p_fu.dtype == dtype
    np.testing.assert_allclose(p_fu, p_np, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(loss_fu, loss_np, rtol=rtol)
    np.testing.assert_allclose(norms_fu, norms_np, rtol=rtol * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_buffers_give_the_bits_of_the_allocating_path(dtype: str, fused_off: None) -> None:
    """With the kernels off, writing into buffers changes nothing, to the bit."""
    X, Y = _data(dtype, 50)
    a = Network(SIZES, "relu", "ce", seed=0, dtype=dtype, dropout=0.2)
    b = Network(SIZES, "relu", "ce", seed=0, dtype=dtype, dropout=0.2)
    for _ in range(2):  # the second call reuses the buffers of the first
        cost_a = a.backward(X, Y, training=True, alpha=0.01)
        cost_b = b.backward(X, Y, training=True, alpha=0.01, reuse_buffers=True)
        assert cost_a == cost_b
        assert a.grad.tobytes() == b.grad.tobytes()
        a.parameters -= 0.1 * a.grad
        b.parameters -= 0.1 * b.grad


def test_buffers_with_weights_batch_norm_and_other_activations(fused_on: Any) -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(40, 64)), rng.normal(size=(40, 16))
    w = rng.uniform(0.5, 2.0, 40)
    for acts, loss, bn in [
        (["tanh", "gelu", "identity"], "mse", True),
        (["sigmoid", "elu", "softmax"], "ce", False),
        (["leaky_relu", "relu", "sigmoid"], "mse", False),
    ]:
        Yl = np.eye(16)[rng.integers(0, 16, 40)] if loss == "ce" else Y
        a = Network(SIZES, acts, loss, seed=0, batch_norm=bn)
        b = Network(SIZES, acts, loss, seed=0, batch_norm=bn)
        for _ in range(2):
            cost_a = a.backward(X, Yl, w, training=True)
            cost_b = b.backward(X, Yl, w, training=True, reuse_buffers=True)
            assert cost_b == pytest.approx(cost_a, rel=1e-13)
            np.testing.assert_allclose(b.grad, a.grad, rtol=1e-11, atol=1e-14)


def test_an_activation_without_out_still_trains() -> None:
    class Cube(Activation):
        name = "cube"

        def forward(self, Z):  # type: ignore[no-untyped-def, override]
            return Z**3

        def derivative(self, Z, A):  # type: ignore[no-untyped-def, override]
            return 3 * Z**2

    X, Y = _data("float64", 64)
    a = Network(SIZES, [Cube(), "relu", "softmax"], "ce", seed=0)
    b = Network(SIZES, [Cube(), "relu", "softmax"], "ce", seed=0)
    a.backward(X, Y)
    b.backward(X, Y, reuse_buffers=True)
    np.testing.assert_allclose(b.grad, a.grad, rtol=1e-12)


# --------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_against_numpy(dtype: type, fused_on: Any) -> None:
    K = fused_on
    rng = np.random.default_rng(2)
    Z = rng.normal(scale=3, size=(33, 10)).astype(dtype)
    Z[0, :] = 0.0
    dA = rng.normal(size=Z.shape).astype(dtype)
    out = np.empty_like(Z)
    K.relu_backward(dA, Z, out)
    assert out.tobytes() == np.where(Z > 0, dA, 0).astype(dtype).tobytes()
    _fused.compiled(Softmax.kernel_rows_forward)(Z, out)  # Softmax.forward's per-op kernel
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, E / E.sum(axis=1, keepdims=True), rtol=4 * np.finfo(dtype).eps)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 33)]
    losses = np.empty(33, dtype)
    K.softmax_xent(Y, Z, losses)
    ref = -(Y * np.log(E / E.sum(axis=1, keepdims=True))).sum(axis=1)
    np.testing.assert_allclose(losses, ref, rtol=20 * np.finfo(dtype).eps, atol=1e-6)
    g = rng.normal(size=1000).astype(dtype)
    norms = np.ones(2)
    starts, stops = np.array([0, 500]), np.array([400, 900])
    assert K.grad_stats(g, starts, stops, norms)
    expected = [np.linalg.norm(g[:400].astype(float)), np.linalg.norm(g[500:900].astype(float))]
    np.testing.assert_allclose(norms, 1 + np.array(expected))
    g[999] = np.inf
    assert not K.grad_stats(g, starts, stops, norms)
    g[999] = np.nan
    assert not K.grad_stats(g, starts, stops, norms)


# --------------------------------------------------------------------------- allocation
def test_the_hot_loop_allocates_nothing_per_step(
    fused_on: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tracemalloc sees NumPy's array allocations: steps 2..N of an epoch of the Python
    loop add none (the batch callback alone would keep the compiled loop)."""
    from deltaprop.train import trainer as training

    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(lambda *a, **k: None))
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64 * 12, 64)).astype("float32")
    Y = np.eye(32, dtype="float32")[rng.integers(0, 32, 64 * 12)]
    net = Network([64, 96, 64, 32], "relu", "ce", seed=0, dtype="float32")
    peaks: list[int] = []

    class Watch(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
            if batch == 1:
                tracemalloc.start()
            elif batch > 1:
                _current, peak = tracemalloc.get_traced_memory()
                peaks.append(peak - self.base)  # the most this step held at once
            if batch >= 1:
                tracemalloc.reset_peak()
                self.base = tracemalloc.get_traced_memory()[0]

    try:
        Trainer(net, "adam", batch_size=64, epochs=1, callbacks=[Watch()], seed=0).fit(X, Y)
    finally:
        tracemalloc.stop()
    assert len(peaks) == 10
    smallest_array = 64 * 32 * 4  # the output layer's arrays, 8 KiB
    assert max(peaks) < smallest_array // 4, peaks


@pytest.mark.parametrize("fused", [False, True])
def test_float32_training_data_is_not_copied(fused: bool) -> None:
    """Training on float32 input holds no copy of X: the checks reduce, batches are gathered."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(4000, 256)).astype(np.float32)  # 4 MB
    Y = np.eye(16, dtype=np.float32)[rng.integers(0, 16, 4000)]
    net = Network([256, 32, 16], "relu", "ce", seed=0, dtype="float32")
    previous = _fused.set_enabled(fused)
    # numba's first compilation of the loop (a cold cache) allocates; it is not training
    warm = Network([256, 32, 16], "relu", "ce", seed=0, dtype="float32")
    Trainer(warm, "adam", batch_size=128, epochs=1, seed=0).fit(X[:256], Y[:256])
    tracemalloc.start()
    try:
        Trainer(net, "adam", batch_size=128, epochs=1, seed=0).fit(X, Y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        _fused.set_enabled(previous)
    assert peak < X.nbytes / 4, peak
