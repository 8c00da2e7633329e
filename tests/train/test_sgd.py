"""The mini-batch fit (deltaprop.train.sgd): a callback's learning rate is the one used and
recorded, by the compiled loop and by the Python loop alike (Keras's LearningRateScheduler)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.core import fused as _fused
from deltaprop.train import Callback


class EpochRate(Callback):
    """Set the rate at each epoch's begin: ``rates[epoch]``; keep the epoch logs."""

    def __init__(self, rates: list[float]) -> None:
        self.rates, self.logged = rates, []  # type: list[float]

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        trainer.optimizer.learning_rate = self.rates[epoch]

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        self.logged.append(logs["learning_rate"])


class BatchRate(EpochRate):
    """Set the rate before each batch: ``rates[batch]``."""

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_batch_begin(self, trainer: Any, batch: int, logs: dict[str, Any] | None = None) -> None:
        trainer.optimizer.learning_rate = self.rates[batch]


def _fit(callback: Callback, compiled: bool, optimizer: str = "sgd") -> tuple[Trainer, np.ndarray]:
    """Two epochs of 3 batches of 10 rows, with the compiled loop or the Python loop."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 3, 30)
    net = Network([3, 4, 3], "tanh", "ce", seed=0)
    p0 = net.parameters.copy()
    previous = _fused.set_enabled(compiled)
    try:
        t = Trainer(net, optimizer, learning_rate=0.1, batch_size=10, epochs=2, seed=0,
                    callbacks=[callback])  # fmt: skip
        t.fit(X, y)
    finally:
        _fused.set_enabled(previous)
    assert t.engine == ("compiled" if compiled else "python")
    return t, net.parameters - p0


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("make", [lambda: EpochRate([0.0, 0.0]), lambda: BatchRate([0.0] * 3)])
def test_a_callback_s_zero_rate_leaves_the_weights(compiled: bool, make: Any) -> None:
    if compiled:
        pytest.importorskip("numba")
    cb = make()
    t, moved = _fit(cb, compiled)
    assert np.abs(moved).max() == 0.0
    assert t.history.learning_rate == cb.logged == [0.0, 0.0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize(
    "make, recorded",
    [(lambda: EpochRate([0.05, 0.2]), [0.05, 0.2]),
     (lambda: BatchRate([0.05, 0.2, 0.01]), [0.01, 0.01])],  # the rate of the last step
    ids=["epoch_hook", "batch_hook"],
)  # fmt: skip
def test_both_loops_take_and_record_the_callback_s_rate(
    make: Any, recorded: list[float], optimizer: str
) -> None:
    pytest.importorskip("numba")
    runs = [_fit(make(), compiled, optimizer) for compiled in (True, False)]
    (tc, moved_c), (tp, moved_p) = runs
    np.testing.assert_allclose(moved_c, moved_p, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(tc.history.loss, tp.history.loss, rtol=1e-12)
    assert tc.history.learning_rate == tp.history.learning_rate == recorded
    _, moved_default = _fit(Callback(), False, optimizer)  # the rate 0.1 throughout
    assert np.abs(moved_p - moved_default).max() > 1e-3


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("make", [lambda: EpochRate([-1.0] * 2), lambda: BatchRate([-1.0] * 3)])
def test_a_bad_rate_from_a_callback_is_named(compiled: bool, make: Any) -> None:
    if compiled:
        pytest.importorskip("numba")
    with pytest.raises(ValueError, match=r"optimizer\.learning_rate must be a non-negative "
                       r"finite number\. Received: optimizer\.learning_rate=-1\.0"):  # fmt: skip
        _fit(make(), compiled)


def test_the_python_loop_gives_the_same_bits_whatever_blas_threads_are_allowed() -> None:
    """The Python loop's products on one BLAS thread (as L-BFGS's): the compiled loop has
    row blocks of its own, BLAS's threads split by their count."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(1000, 20)), rng.integers(0, 3, 1000)
    weights = []
    previous = _fused.set_enabled(False)
    try:
        for limit in (1, 2, None):
            net = Network([20, 256, 256, 3], "relu", "ce", seed=0)
            with threadpool_limits(limit):
                Trainer(net, "adam", batch_size=500, epochs=2, seed=0).fit(X, y)
            weights.append(net.parameters.copy())
    finally:
        _fused.set_enabled(previous)
    assert all(np.array_equal(weights[0], w) for w in weights[1:])
