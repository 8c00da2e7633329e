"""StopOnInterrupt: Ctrl-C in a fit becomes a stop with the last complete epoch's (or the
best) weights; without it, the interrupt propagates. Duck-typed callbacks (as_callbacks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from deltaprop import MLPClassifier, Network, Trainer
from deltaprop.train import Callback, StopOnInterrupt


class Snapshot(Callback):
    """Keep each epoch's weights; raise KeyboardInterrupt in the batches of epoch ``at``
    (0-based) or, with ``batch=False``, at its end."""

    def __init__(self, at: int, batch: bool = True) -> None:
        self.at, self.batch, self.weights = at, batch, []  # type: list[np.ndarray]

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.batch and trainer.epoch == self.at and batch == 1:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.weights.append(trainer.net.parameters.copy())
        if not self.batch and epoch == self.at:
            raise KeyboardInterrupt


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    return X, (X[:, 0] > 0).astype(float)


def test_interrupt_inside_an_epoch_keeps_the_last_complete_one() -> None:
    X, y = data()
    snap = Snapshot(at=3)
    net = Network([3, 5, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, "adam", batch_size=20, epochs=10, seed=0, callbacks=[snap, StopOnInterrupt()])
    h = tr.fit(X, y)
    assert h.stop_reason == "interrupted" and h.stop is not None
    assert h.stop.message == "interrupted in epoch 4 (Ctrl-C) after 3 complete epochs"
    assert len(h.loss) == 3 and len(snap.weights) == 3
    np.testing.assert_array_equal(net.parameters, snap.weights[2])  # not the half epoch's


def test_interrupt_with_early_stopping_restores_the_best() -> None:
    X, y = data()
    snap = Snapshot(at=8, batch=False)
    net = Network([3, 5, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, "sgd", learning_rate=2.0, batch_size=20, epochs=20, seed=0,
                 early_stopping=True, n_iter_no_change=50,
                 callbacks=[snap, StopOnInterrupt()])  # fmt: skip
    h = tr.fit(X, y)
    best = int(np.argmin(h.val_loss))
    assert h.stop is not None and h.stop.best_epoch == best + 1
    assert best < 8  # a rate this large makes the last epoch not the best one
    np.testing.assert_array_equal(net.parameters, snap.weights[best])


def test_without_stop_on_interrupt_it_propagates() -> None:
    X, y = data()
    net = Network([3, 5, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, "adam", batch_size=20, epochs=10, seed=0, callbacks=[Snapshot(at=2)])
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, y)
    assert tr.history.stop_reason == "interrupted"


def test_an_interrupt_before_the_first_epoch_ends_propagates() -> None:
    X, y = data()
    net = Network([3, 5, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, batch_size=20, epochs=10, seed=0,
                 callbacks=[Snapshot(at=0), StopOnInterrupt()])  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, y)


def test_an_epoch_interrupted_while_recorded_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = data()
    net = Network([3, 5, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, "adam", batch_size=20, epochs=10, seed=0, validation_fraction=0.2,
                 callbacks=[StopOnInterrupt()])  # fmt: skip
    validate = tr._validate
    calls = []

    def slow(*a: Any) -> Any:  # Ctrl-C in the validation of epoch 3, its loss appended
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return validate(*a)

    monkeypatch.setattr(tr, "_validate", slow)
    h = tr.fit(X, y)
    assert tr.epoch == 2
    assert [len(c) for c in (h.loss, h.val_loss, h.val_score, h.learning_rate, h.grad_norms)] == [
        2
    ] * 5
    assert h.stop is not None and h.stop.epoch == 3


def _sigint_at(batch: int, caught: Callable[[], None]) -> Callback:
    """A callback that sends this process SIGINT at epoch 2's batch ``batch`` and calls
    ``caught`` where the signal's ``KeyboardInterrupt`` lands."""
    import os
    import signal

    class SigintAt(Callback):
        def on_batch_end(self, trainer: Any, b: int, logs: Any = None) -> None:
            if trainer.epoch == 2 and b == batch:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    for _ in range(1000):  # the handler runs between bytecodes
                        pass
                except KeyboardInterrupt:
                    caught()

    return SigintAt()


def _tiny() -> tuple[Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    return Network([2, 3, 1], "tanh", "bce", seed=0), X, (X[:, 0] > 0).astype(float)


def test_a_swallowed_sigint_still_stops_the_fit_at_the_epoch_end() -> None:
    import signal

    swallowed = _sigint_at(0, lambda: None)  # inside code that eats it, as a finalizer would
    before = signal.getsignal(signal.SIGINT)
    net, X, y = _tiny()
    t = Trainer(net, epochs=50, batch_size=10, seed=0, callbacks=[swallowed, StopOnInterrupt()])
    h = t.fit(X, y)
    assert h.stop_reason == "interrupted"
    assert len(h.loss) == 3  # not 50: the fit stopped at the end of epoch 2, kept
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_a_sigint_that_compiled_code_turns_into_its_own_error_is_the_interrupt() -> None:
    """numba unboxing an argument when the signal's KeyboardInterrupt is raised reports
    ``TypeError: can't unbox ...`` (seen in CI): the fit stops as for Ctrl-C."""

    def unboxing() -> None:
        raise TypeError("can't unbox a List as a <NULL>") from None

    net, X, y = _tiny()
    compiled = _sigint_at(1, unboxing)
    t = Trainer(net, epochs=50, batch_size=10, seed=0, callbacks=[compiled, StopOnInterrupt()])
    h = t.fit(X, y)
    assert h.stop_reason == "interrupted" and len(h.loss) == 2  # epochs 0 and 1, complete
    t = Trainer(net, epochs=50, batch_size=10, seed=0, callbacks=[_sigint_at(1, unboxing)])
    with pytest.raises(TypeError, match="can't unbox"):  # no StopOnInterrupt: as raised
        t.fit(X, y)


def test_a_fit_that_goes_on_after_an_interrupt_continues_exactly() -> None:
    """An interrupt mid-epoch put back the weights but left the optimizer's moments, the
    generator and the samples seen of the partial epoch: going on then gave other bits."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    net, X, y = _tiny()
    whole = Trainer(net, "adam", epochs=6, batch_size=10, seed=0, n_iter_no_change=99)
    whole.fit(X, y)
    net2 = _tiny()[0]
    t = Trainer(net2, "adam", epochs=6, batch_size=10, seed=0, n_iter_no_change=99,
                callbacks=[_sigint_at(1, interrupt), StopOnInterrupt()])  # fmt: skip
    assert t.fit(X, y).stop_reason == "interrupted" and t.epoch == 2
    assert t.optimizer.t == 8 and t.samples_seen == 80  # two epochs of four batches
    t.callbacks, t.epochs = [], 4
    t.fit(X, y)
    np.testing.assert_array_equal(net2.parameters, net.parameters)
    assert t.history.loss == whole.history.loss


class Plain:
    """A duck-typed callback: not a Callback, only ``on_epoch_end`` (and batch ends, if asked)."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at, self.epochs, self.losses = stop_at, [], []  # type: ignore[var-annotated]

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        self.epochs.append(epoch)
        self.losses.append(logs["loss"])
        if epoch == self.stop_at:
            trainer.stop_training = True


def test_a_duck_typed_callback_gets_only_its_own_hooks() -> None:
    X, y = data()
    plain = Plain(stop_at=3)
    tr = Trainer(Network([3, 4, 1], "tanh", "bce", seed=0), epochs=20, seed=0, callbacks=[plain])
    h = tr.fit(X, y)
    assert plain.epochs == [0, 1, 2, 3] and plain.losses == h.loss
    assert h.stop_message == "stopped at epoch 4: a callback (Plain) set stop_training"
    assert tr.callbacks == [plain]  # the trainer keeps the object it was given
    est = MLPClassifier((4,), max_iter=20, random_state=0, callbacks=[Plain(stop_at=1)])
    est.fit(X, y)
    assert est.n_iter_ == 2 and est.stop_reason_ == "callback" and "(Plain)" in est.stop_message_


def test_a_duck_typed_batch_hook_is_called_for_every_batch() -> None:
    X, y = data()
    seen: list[tuple[int, int]] = []

    class Batches:
        def on_batch_end(self, trainer: Any, batch: int, logs: Any = None) -> None:
            seen.append((trainer.epoch, batch))

    Trainer(Network([3, 4, 1], "tanh", "bce", seed=0), batch_size=50, epochs=2,
            callbacks=[Batches()]).fit(X, y)  # fmt: skip
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]  # 120 rows: 50, 50, 20


def test_duck_typed_callbacks_are_checked_before_any_epoch() -> None:
    X, y = data()

    class KerasStyle:
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            pass

    tr = Trainer(Network([3, 4, 1], "tanh", "bce", seed=0), epochs=5, callbacks=[KerasStyle()])
    with pytest.raises(TypeError, match=r"KerasStyle.on_epoch_end must accept \(trainer, epoch"):
        tr.fit(X, y)
    assert tr.history.loss == []
    for thing in (print, Plain, "Plain"):  # no hooks, or a class instead of an instance
        tr = Trainer(Network([3, 4, 1], "tanh", "bce", seed=0), epochs=5, callbacks=[thing])
        with pytest.raises(TypeError, match=r"callbacks\[0\] is not a callback: .*subclass "
                           r"deltaprop.Callback and pass an instance"):  # fmt: skip
            tr.fit(X, y)
        assert tr.history.loss == []


class Raises(Callback):
    """Raise ``error`` at the end of epoch 1 (0-based); note every hook that ran."""

    def __init__(self, error: BaseException) -> None:
        self.error, self.calls = error, []  # type: BaseException, list[str]

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == 1:
            raise self.error

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.calls.append("on_train_end")

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None and logs["exception"] is self.error and logs["epochs"] == 2
        self.calls.append("on_exception")


@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("error", [ValueError("a callback's bug"), KeyboardInterrupt()])
def test_a_fit_ended_by_an_exception_releases_what_its_callbacks_took(
    error: BaseException, kept: bool, tmp_path: Any
) -> None:
    import logging
    import signal

    from deltaprop import CSVLogger

    handler = signal.getsignal(signal.SIGINT)
    raises, log = Raises(error), CSVLogger(tmp_path / "log.csv")
    callbacks: list[Any] = [raises, log, *([StopOnInterrupt()] if kept else [])]
    trainer = Trainer(Network([3, 4, 1], "tanh", "bce", seed=0), epochs=5, seed=0,
                      verbose=True, callbacks=callbacks)  # fmt: skip
    if kept and isinstance(error, KeyboardInterrupt):
        assert trainer.fit(*data()).stop_reason == "interrupted"
    else:
        with pytest.raises(type(error)):
            trainer.fit(*data())
    assert raises.calls == ["on_exception"]  # not on_train_end
    assert signal.getsignal(signal.SIGINT) is handler  # StopOnInterrupt's put back
    assert logging.getLogger("deltaprop.compile").handlers == []  # the bar's compile notes
    assert log._file is None and len((tmp_path / "log.csv").read_text().splitlines()) == 2


def test_history_reads_as_keras_history() -> None:
    X, y = data()
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    h = Trainer(net, epochs=4, verbose=0).fit(X, y, validation_data=(X[:20], y[:20]))
    assert list(h.history) == ["loss", "val_loss", "val_score", "learning_rate"]
    assert h.history["loss"] == h.loss and h.history["val_loss"] == h.val_loss
    assert len(h.history["loss"]) == 4 and h.epoch == [0, 1, 2, 3]
    plain = Trainer(Network([3, 1], "sigmoid", "bce", seed=0), epochs=2, verbose=0).fit(X, y)
    assert list(plain.history) == ["loss", "learning_rate"]  # no validation: no empty lists
