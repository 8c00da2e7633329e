"""Why a fit stopped (StopRecord), Keras's hooks, the optimizer's own rate, divergence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from deltaprop.core import Network
from deltaprop.optim import SGD
from deltaprop.train import Callback, DivergenceError, Trainer
from deltaprop.train.callbacks import check_callbacks, watches_batches


def _blobs(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + y[:, None]
    return X, np.eye(3)[y]


def _no_improvement_run(loss: list[float], tol: float) -> tuple[int, int]:
    """(count, best epoch 1-based) by the rule, recomputed from the curve."""
    best, count, best_at = np.inf, 0, 0
    for k, v in enumerate(loss):
        count = 0 if v < best - tol else count + 1
        if v < best:
            best, best_at = v, k + 1
    return count, best_at


def test_the_tol_stop_states_its_exact_counts() -> None:
    X, Y = _blobs()
    tr = Trainer(Network([4, 8, 3], "relu", "ce", seed=0), learning_rate=0.05, batch_size=30,
                 epochs=500, tol=1e-2, n_iter_no_change=4, seed=0)  # fmt: skip
    h = tr.fit(X, Y)
    count, best_at = _no_improvement_run(h.loss, 1e-2)
    assert h.stop_reason == "no_improvement" and count == 5 and len(h.loss) < 500
    assert h.stop is not None and h.stop.epoch == len(h.loss) and h.best_epoch is None
    assert h.stop_message == (
        f"stopped at epoch {len(h.loss)}: the training loss did not improve by tol=0.01 for 5 "
        f"consecutive epochs (more than n_iter_no_change=4); its best was "
        f"{min(h.loss):.6g} at epoch {best_at}"
    )


def test_the_epoch_limit_is_stated_per_fit() -> None:
    X, Y = _blobs()
    tr = Trainer(Network([4, 8, 3], "relu", "ce", seed=0), epochs=5, n_iter_no_change=100, seed=0)
    assert tr.fit(X, Y).stop_message == "stopped at epoch 5: reached the epoch limit (epochs=5)"
    tr.epochs = 3
    h = tr.fit(X, Y)
    assert h.stop_reason == "epochs"
    assert h.stop_message == (
        "stopped at epoch 8: reached the epoch limit (3 epochs in this fit, after epoch 5)"
    )


def test_early_stopping_names_the_restored_epoch() -> None:
    X, Y = _blobs(300)
    net = Network([4, 8, 3], "relu", "ce", seed=0)
    kept: list[np.ndarray] = []

    class Keep(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any = None) -> None:
            kept.append(trainer.net.parameters.copy())

    tr = Trainer(net, learning_rate=0.05, batch_size=30, epochs=300, early_stopping=True,
                 monitor="val_score", n_iter_no_change=3, callbacks=[Keep()], seed=0)  # fmt: skip
    h = tr.fit(X, Y)
    best = int(np.argmax(h.val_score)) + 1
    assert h.stop_reason == "early_stopping" and h.best_epoch == best
    np.testing.assert_array_equal(net.parameters, kept[best - 1])
    assert h.stop_message is not None and h.stop_message.startswith(
        f"stopped at epoch {len(h.loss)}: the validation score did not improve by tol=0.0001 "
        f"for 4 consecutive epochs (more than n_iter_no_change=3); its best was "
        f"{max(h.val_score):.6g} at epoch {best}"
    )
    assert h.stop_message.endswith(f"; the weights of epoch {best} were restored")


def test_a_callback_and_an_interruption_are_stop_reasons() -> None:
    X, Y = _blobs()

    class StopAt3(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any = None) -> None:
            trainer.stop_training = epoch == 2

    tr = Trainer(Network([4, 8, 3], "relu", "ce", seed=0), epochs=50, callbacks=[StopAt3()])
    h = tr.fit(X, Y)
    assert (h.stop_reason, h.stop_message) == (
        "callback", "stopped at epoch 3: a callback (StopAt3) set stop_training")  # fmt: skip

    class Interrupt(Callback):
        def on_batch_begin(self, trainer: Any, batch: int, logs: Any = None) -> None:
            if trainer.epoch == 1:
                raise KeyboardInterrupt

    tr = Trainer(Network([4, 8, 3], "relu", "ce", seed=0), epochs=50, callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, Y)
    assert tr.history.stop_reason == "interrupted"
    assert tr.history.stop_message == "interrupted in epoch 2 (Ctrl-C) after 1 complete epoch"


def test_every_keras_hook_is_called_with_logs() -> None:
    X, Y = _blobs(100)
    calls: list[tuple[str, Any]] = []

    class All(Callback):
        def on_train_begin(self, trainer: Any, logs: Any = None) -> None:
            calls.append(("train_begin", logs))

        def on_epoch_begin(self, trainer: Any, epoch: int, logs: Any = None) -> None:
            calls.append(("epoch_begin", epoch))

        def on_batch_begin(self, trainer: Any, batch: int, logs: Any = None) -> None:
            calls.append(("batch_begin", logs["batch_size"]))

        def on_batch_end(self, trainer: Any, batch: int, logs: Any = None) -> None:
            calls.append(("batch_end", batch))

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any = None) -> None:
            calls.append(("epoch_end", epoch))

        def on_train_end(self, trainer: Any, logs: Any = None) -> None:
            calls.append(("train_end", logs["stop_reason"]))

    Trainer(Network([4, 3], "softmax", "ce", seed=0), batch_size=60, epochs=2,
            n_iter_no_change=100, callbacks=[All()]).fit(X, Y)  # fmt: skip
    assert calls == [
        ("train_begin", {"epoch": 0, "epochs": 2}),
        ("epoch_begin", 0), ("batch_begin", 60), ("batch_end", 0), ("batch_begin", 40),
        ("batch_end", 1), ("epoch_end", 0),
        ("epoch_begin", 1), ("batch_begin", 60), ("batch_end", 0), ("batch_begin", 40),
        ("batch_end", 1), ("epoch_end", 1), ("train_end", "epochs"),
    ]  # fmt: skip


def test_hook_signatures_are_checked_before_any_epoch() -> None:
    X, Y = _blobs(60)

    class KerasStyle(Callback):
        def on_train_end(self, logs=None):  # type: ignore[no-untyped-def,override]
            pass

    tr = Trainer(Network([4, 3], "softmax", "ce", seed=0), epochs=5, callbacks=[KerasStyle()])
    with pytest.raises(
        TypeError, match=r"KerasStyle.on_train_end must accept \(trainer, logs=None\)"
    ):
        tr.fit(X, Y)
    assert tr.history.loss == []
    check_callbacks([Callback()])  # the base's hooks pass (and are not read again)
    patched = Callback()  # a hook set on the instance is checked, the base's own or not
    patched.on_epoch_end = lambda trainer: None  # type: ignore[assignment,method-assign]
    with pytest.raises(TypeError, match=r"Callback.on_epoch_end must accept"):
        check_callbacks([patched])


def test_a_batch_begin_hook_needs_the_python_loop() -> None:
    class Begin(Callback):
        def on_batch_begin(self, trainer: Any, batch: int, logs: Any = None) -> None:
            pass

    assert watches_batches([Begin()]) and not watches_batches([Callback()])


def test_an_optimizer_object_trains_at_its_own_learning_rate() -> None:
    X, Y = _blobs(100)
    a, b = (Network([4, 3], "softmax", "ce", seed=0) for _ in range(2))
    start = a.parameters.copy()
    Trainer(a, SGD(0.1), epochs=1, shuffle=False).fit(X, Y)
    Trainer(b, "sgd", learning_rate=0.1, epochs=1, shuffle=False).fit(X, Y)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    assert not np.allclose(a.parameters, start)
    c = Network([4, 3], "softmax", "ce", seed=0)
    tr = Trainer(c, SGD(0.5), learning_rate=0.1, epochs=1, shuffle=False)  # given: it is used
    assert tr.learning_rate == tr.optimizer.learning_rate == 0.1


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 10.0), ("adam", 10.0)])
def test_an_exploding_loss_is_a_divergence(optimizer: str, lr: float) -> None:
    X, y = load_digits(return_X_y=True)
    net = Network([64, 32, 10], "relu", "ce", seed=0)
    good: list[np.ndarray] = [net.parameters.copy()]

    class Keep(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any = None) -> None:
            good.append(trainer.net.parameters.copy())

    tr = Trainer(net, optimizer, learning_rate=lr, batch_size=64, epochs=50, seed=0,
                 callbacks=[Keep()])  # fmt: skip
    with pytest.raises(DivergenceError) as info:
        tr.fit(X, np.eye(10)[y])
    exc = info.value
    assert exc.threshold == pytest.approx(100 * max(tr.baselines or ()))
    assert np.isfinite(exc.loss) and exc.loss > exc.threshold
    np.testing.assert_array_equal(net.parameters, good[-1])  # the last good epoch's
    assert tr.history.stop_reason == "diverged" and tr.history.stop_message == str(exc)
    assert "clip" not in exc.describe(clip_name=None)
    assert "Try a smaller --learning-rate (it was 10) or scaling" in exc.describe(
        learning_rate_name="--learning-rate", clip_name=None)  # fmt: skip


def test_the_starting_baseline_is_measured_on_evenly_spaced_rows() -> None:
    from deltaprop.train.stopping import BASELINE_ROWS, loss_baselines

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(5000, 3)), rng.integers(0, 2, 5000).astype(float)[:, None]
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    start, constant = loss_baselines(net, X, y, None)
    rows = np.unique(np.linspace(0, 4999, BASELINE_ROWS).round().astype(int))
    assert start == pytest.approx(net.cost(X[rows], y[rows], None, training=False, alpha=0.0))
    assert start != pytest.approx(net.cost(X, y, None, training=False, alpha=0.0), rel=1e-9)
    p = y.mean()  # the constant predictor on every row
    assert constant == pytest.approx(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
    small = loss_baselines(net, X[:400], y[:400], None)[0]  # every row when fewer
    assert small == pytest.approx(net.cost(X[:400], y[:400], None, training=False, alpha=0.0))
