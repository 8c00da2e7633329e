"""Batch norm in the compiled loop (``BatchNorm``'s kernels, :mod:`deltaprop.fast.layered`):
with plain SGD, which does not magnify the rounding noise of the gradient of the biases that
feed a batch norm (zero in exact arithmetic), every parameter and running statistic equals
the Python loop's to 1e-12, a zero-weight batch and a last batch of two rows included; with
batches cut into several blocks of rows, the same bits on 1, 2 and 3 threads."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.train import trainer as training

pytest.importorskip("numba")
REAL_CREATE = training.CompiledLoop.create


def _fit(compiled: bool, monkeypatch: pytest.MonkeyPatch, threads: str,
         batch_size: int = 20) -> deltaprop.Trainer:  # fmt: skip
    monkeypatch.setattr(training.CompiledLoop, "create",
                        staticmethod(REAL_CREATE if compiled else lambda *a, **k: None))  # fmt: skip
    monkeypatch.setenv("DELTAPROP_THREADS", threads)
    rng = np.random.default_rng(0)
    X = rng.normal(1.0, 2.0, (162, 7))  # batches of 20 and a last one of 2 rows
    Y = np.stack([X[:, 0] * X[:, 1], np.tanh(X[:, 2])], axis=1)
    w = rng.uniform(0.5, 2.0, 162)
    w[batch_size : 2 * batch_size] = 0.0  # batch 1 weighs nothing (no shuffling): no step
    net = deltaprop.Network([7, 24, 16, 2], ["relu", "tanh", "identity"], "mse",
                            batch_norm=[True, True], dropout=[0.1, 0.0], seed=2)  # fmt: skip
    tr = deltaprop.Trainer(net, "momentum", learning_rate=0.05, batch_size=batch_size, epochs=3,
                           seed=1, tol=0.0, alpha=1e-3, clip_norm=2.0, shuffle=False)  # fmt: skip
    tr.fit(X, Y, sample_weight=w)
    return tr


def test_batch_norm_fits_as_the_python_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    c = _fit(True, monkeypatch, "3")
    assert c.engine == "compiled"
    p = _fit(False, monkeypatch, "3")
    assert p.engine == "python"
    np.testing.assert_allclose(c.net.parameters, p.net.parameters, rtol=1e-12, atol=1e-13)
    for (name, a), (_, b) in zip(c.net.buffers(), p.net.buffers(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=name)
        assert not np.array_equal(a, np.zeros_like(a) if "mean" in name else np.ones_like(a))
    one = _fit(True, monkeypatch, "1")  # batches of 20 rows: one block, on any threads
    assert one.engine == "compiled"
    np.testing.assert_array_equal(one.net.parameters, c.net.parameters)
    np.testing.assert_allclose(c.history.loss, p.history.loss, rtol=1e-12)
    assert c.optimizer.t == p.optimizer.t == 3 * 8  # 9 batches an epoch, one weighs nothing


def test_batch_norm_blocks_give_the_same_bits_on_any_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of 50 rows: 3 blocks (the last batch, 12 rows, one), whose statistics are
    sums of the blocks' sums in block order, whatever thread takes which block."""
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    fits = {t: _fit(True, monkeypatch, t, batch_size=50) for t in ("1", "2", "3")}
    assert all(f.engine == "compiled" for f in fits.values())
    for t in ("2", "3"):
        np.testing.assert_array_equal(fits[t].net.parameters, fits["1"].net.parameters)
        for (name, a), (_, b) in zip(fits[t].net.buffers(), fits["1"].net.buffers(),
                                     strict=True):  # fmt: skip
            np.testing.assert_array_equal(a, b, err_msg=name)
    p = _fit(False, monkeypatch, "1", batch_size=50)
    np.testing.assert_allclose(fits["2"].net.parameters, p.net.parameters, rtol=1e-12,
                               atol=1e-13)  # fmt: skip
    for (name, a), (_, b) in zip(fits["2"].net.buffers(), p.net.buffers(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(fits["2"].history.loss, p.history.loss, rtol=1e-12)
    assert fits["2"].optimizer.t == p.optimizer.t == 3 * 3  # 4 batches an epoch, one weighs 0


def test_the_batch_norm_pass_is_compiled_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_steps`` takes ``bn=None`` without batch norm: its own specialization, in which
    numba drops the batch-norm branch before typing (so a network without batch norm never
    compiles :func:`deltaprop.fast.layered.layered_forward_backward`)."""
    import inspect

    from deltaprop.fast import epoch, loop

    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    position = list(inspect.signature(epoch.run_steps.py_func).parameters).index("bn")
    X = np.random.default_rng(0).normal(size=(40, 3))
    kinds = {}
    for batch_norm in (False, True):
        net = deltaprop.Network([3, 5, 1], ["relu", "identity"], "mse",
                                batch_norm=[batch_norm], seed=0)  # fmt: skip
        tr = deltaprop.Trainer(net, "adam", batch_size=20, epochs=1, seed=0, tol=0.0)
        tr.fit(X, X[:, :1])
        assert tr.engine == "compiled"
        kinds[batch_norm] = {str(sig[position]) for sig in epoch.run_steps.signatures}
    assert "none" in kinds[False]
    assert any(kind.startswith("array(float64, 2d") for kind in kinds[True])
    names = {loop._loop_name(sig) for sig in epoch.run_steps.signatures}  # compile notices
    assert {"the training loop", "the training loop with batch norm"} <= names
