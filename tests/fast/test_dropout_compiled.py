"""Dropout in the compiled loop: masks from counter-based keys (``Dropout.kernel_uniform``),
the same on any number of threads and with a first layer split by units, equal to the
Python loop's (which draws its keys from the same generator), and the generator left where
the Python loop leaves it (zero-weight batches draw no key)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.core.layers import Dropout, dropout_uniforms
from deltaprop.train import trainer as training

numba = pytest.importorskip("numba")


def test_the_compiled_uniforms_are_the_numpy_ones() -> None:
    kernel = numba.njit(Dropout.kernel_uniform)
    for key in (0, 1, 2**62 + 12345, int(np.iinfo(np.int64).max) - 1):
        u = dropout_uniforms(key, (7, 9)).ravel()
        assert ((u >= 0) & (u < 1)).all()
        assert [kernel(key, i) for i in range(u.size)] == u.tolist()
    many = dropout_uniforms(42, (1000, 100))
    assert abs(float(many.mean()) - 0.5) < 0.01 and abs(float((many < 0.2).mean()) - 0.2) < 0.01


def test_draw_keys_is_draw_key_one_by_one() -> None:
    layer = Dropout(0.5, np.random.default_rng(3))
    keys = Dropout.draw_keys(np.random.default_rng(3), (4, 3))
    assert keys.ravel().tolist() == [layer.draw_key() for _ in range(12)]


@pytest.mark.parametrize(
    ("threads", "sizes", "zero_batch"),
    [("1", (12, 40, 30, 3), True), ("2", (12, 40, 30, 3), False),
     ("3", (300, 256, 20, 3), False)],  # the last: a first layer split by units
    ids=["one thread, a zero-weight batch", "two threads", "split first layer"],
)  # fmt: skip
def test_dropout_fits_as_the_python_loop(
    threads: str, sizes: tuple[int, ...], zero_batch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    monkeypatch.setenv("DELTAPROP_THREADS", threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, sizes[0]))
    Y = np.eye(3)[rng.integers(0, 3, 203)]
    w = rng.uniform(0.5, 2, 203)
    if zero_batch:
        w[:64] = 0.0  # the first two batches (no shuffling) weigh nothing: no keys drawn
    real = training.CompiledLoop.create
    results: list[Any] = []
    for compiled in (True, False):
        monkeypatch.setattr(training.CompiledLoop, "create",
                            staticmethod(real if compiled else lambda *a, **k: None))  # fmt: skip
        net = deltaprop.Network(list(sizes), ["relu", "tanh", "softmax"], "ce",
                                dropout=[0.3, 0.1], seed=3)  # fmt: skip
        tr = deltaprop.Trainer(net, "adam", batch_size=32, epochs=2, seed=1, tol=0.0,
                               shuffle=not zero_batch)  # fmt: skip
        tr.fit(X, Y, sample_weight=w)
        results.append((tr.engine, net.parameters.copy(), tr.history.loss, net.rng.random()))
    (ce, cp, cl, cr), (pe, pp, pl, pr) = results
    assert (ce, pe) == ("compiled", "python")
    np.testing.assert_allclose(cp, pp, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(cl, pl, rtol=1e-12)
    assert cr == pr  # the generator moved on by the same draws
