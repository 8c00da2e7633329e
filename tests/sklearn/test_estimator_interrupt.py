"""Ctrl-C during an estimator's fit (deltaprop.sklearn.training.EstimatorStop), as
scikit-learn's MLP: a warning and the model of the last complete epoch; and the estimators'
refusals of huge or non-integer hidden sizes and of non-finite assigned weights."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from deltaprop import load, save
from deltaprop.sklearn import MLPClassifier, MLPRegressor, interrupts_raise
from deltaprop.train import Callback, StopOnInterrupt

X = np.random.default_rng(0).normal(size=(40, 3))
y = np.arange(40) % 2


class CtrlC(Callback):
    """Raises KeyboardInterrupt at a hook of a given epoch (and batch)."""

    def __init__(self, hook: str, epoch: int, batch: int = 0) -> None:
        self.hook, self.epoch, self.batch, self.current = hook, epoch, batch, -1

    def on_epoch_begin(self, trainer: object, epoch: int, logs: object = None) -> None:
        self.current = epoch
        if self.hook == "epoch_begin" and epoch == self.epoch:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer: object, epoch: int, logs: object = None) -> None:
        if self.hook == "epoch_end" and epoch == self.epoch:
            raise KeyboardInterrupt

    def on_batch_end(self, trainer: object, batch: int, logs: object = None) -> None:
        if self.hook == "batch" and self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def fitted(max_iter: int, **kwargs: object) -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((5,), max_iter=max_iter, batch_size=10, random_state=0,
                             **kwargs).fit(X, y)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(("hook", "epoch", "complete"), [("epoch_end", 2, 3), ("batch", 1, 1)])
def test_ctrl_c_returns_the_last_complete_epoch_with_sklearns_warning(
    hook: str, epoch: int, complete: int, tmp_path: object
) -> None:
    clf = MLPClassifier((5,), max_iter=10, batch_size=10, random_state=0,
                        callbacks=[CtrlC(hook, epoch, batch=2)])  # fmt: skip
    with pytest.warns(UserWarning, match=r"^Training interrupted by user\.$") as record:
        assert clf.fit(X, y) is clf
    assert [type(w.message) for w in record] == [UserWarning]  # no ConvergenceWarning
    reference = fitted(complete)
    assert clf.n_iter_ == complete and clf.stop_reason_ == "interrupted"
    assert clf.loss_curve_ == reference.loss_curve_ and clf.loss_ == reference.loss_
    assert clf.t_ == reference.t_ == 40 * complete
    for a, b in zip(clf.coefs_ + clf.intercepts_, reference.coefs_ + reference.intercepts_,
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    path = save(clf, f"{tmp_path}/clf.st")
    assert load(path).n_iter_ == complete
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))


def test_ctrl_c_before_the_first_epoch_reraises_and_leaves_the_estimator_unfitted() -> None:
    start = [np.full((3, 5), 0.1), np.full((5, 1), -0.2)]
    clf = MLPClassifier((5,), max_iter=5, random_state=0, callbacks=[CtrlC("epoch_begin", 0)])
    clf.coefs_ = start
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert not hasattr(clf, "n_features_in_") and not hasattr(clf, "classes_")
    assert clf.coefs_ is start  # the weights assigned before the fit are kept
    clf.set_params(callbacks=None, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 1


def test_partial_fit_interrupted_keeps_the_weights_before_the_call() -> None:
    reg = MLPRegressor(
        hidden_layer_sizes=(4,), batch_size=10, random_state=0, callbacks=[CtrlC("batch", 1, 1)]
    )
    reg.partial_fit(X, y.astype(float))
    before = [c.copy() for c in reg.coefs_]
    t = reg.t_
    with pytest.warns(UserWarning, match="^Training interrupted by user"):
        reg.partial_fit(X, y.astype(float))
    assert reg.n_iter_ == 0 and reg.stop_reason_ == "interrupted" and reg.t_ == t == 40
    assert len(reg.loss_curve_) == 1
    for a, b in zip(reg.coefs_, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_callers_stop_on_interrupt_reports_it_its_own_way() -> None:
    clf = MLPClassifier((5,), max_iter=10, random_state=0,
                        callbacks=[CtrlC("epoch_end", 1), StopOnInterrupt()])  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, y)
    assert clf.stop_reason_ == "interrupted" and clf.n_iter_ == 2


def test_huge_hidden_sizes_are_named_before_allocating() -> None:
    clf = MLPClassifier(hidden_layer_sizes=(10**12,))
    with pytest.raises(MemoryError, match=r"^hidden_layer_sizes=\(1000000000000,\) makes "
                       r"5,000,000,000,001 parameters: .*Use smaller hidden_layer_sizes\.$"):  # fmt: skip
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)


@pytest.mark.parametrize("sizes", [(2.5,), (True,), (4, 0)])
def test_hidden_sizes_must_be_positive_integers(sizes: tuple) -> None:
    with pytest.raises(ValueError, match=r"^hidden_layer_sizes must be positive integers, one "
                       rf"per hidden layer. Received: hidden_layer_sizes=\{sizes!r}"[:-1]):  # fmt: skip
        MLPClassifier(hidden_layer_sizes=sizes).fit(X, y)


def test_assigned_weights_are_checked_first_and_nan_is_named() -> None:
    clf = fitted(1)
    before = [c.copy() for c in clf.coefs_]
    bad = np.ones((3, 5))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"^coefs_\[0\] must be finite. Received: coefs_\[0\] "
                       r"of shape \(3, 5\) holding nan at \(1, 2\) \(1 non-finite\)$"):  # fmt: skip
        clf.coefs_ = [bad, np.ones((5, 1))]
    with pytest.raises(ValueError, match=r"^coefs_\[1\] must be a real array of shape \(5, 1\)"
                       r". Received: shape \(5, 2\), dtype float64$"):  # fmt: skip
        clf.coefs_ = [np.ones((3, 5)), np.ones((5, 2))]  # the first is not written either
    for a, b in zip(clf.coefs_, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_within_interrupts_raise_ctrl_c_leaves_the_fit() -> None:
    clf = MLPClassifier((5,), max_iter=10, random_state=0, callbacks=[CtrlC("epoch_end", 1)])
    with interrupts_raise(), pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.warns(UserWarning, match="^Training interrupted by user"):
        clf.fit(X, y)  # outside it, scikit-learn's way again
    assert clf.n_iter_ == 2


def test_a_streamed_fit_interrupted_is_recorded_and_warned_as_in_memory() -> None:
    from deltaprop.data import NpyDataset

    yf = y.astype(float)
    runs = []
    for callbacks in ([CtrlC("epoch_end", 1)], []):
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2 if not callbacks else 10,
                           batch_size=10, random_state=0, shuffle=False,
                           callbacks=callbacks)  # fmt: skip
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            reg.fit(NpyDataset(X, yf, block_rows=20, buffer_blocks=1))
        runs.append((reg, [str(w.message) for w in record if w.category is UserWarning]))
    (stopped, said), (reference, _) = runs
    assert said == ["Training interrupted by user."]
    assert stopped.n_iter_ == 2 and stopped.stop_reason_ == "interrupted"
    assert stopped.loss_curve_ == reference.loss_curve_ and stopped.t_ == reference.t_ == 80
    for a, b in zip(stopped.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_streamed_fit_interrupted_mid_epoch_keeps_the_last_complete_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deltaprop.data import NpyDataset
    from deltaprop.train import streaming

    def fit(max_iter: int) -> MLPRegressor:
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=max_iter, batch_size=10,
                           random_state=0, shuffle=False)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return reg.fit(NpyDataset(X, y.astype(float), block_rows=20, buffer_blocks=1))

    reference = fit(2)
    for kind in (streaming._Epoch, streaming._FastEpoch):
        finish = kind.finish

        def interrupted(self: object, finish: object = finish) -> None:
            finish(self)  # type: ignore[operator]  # the weights have taken the epoch's steps
            if self.t.epoch == 2:  # type: ignore[attr-defined]
                raise KeyboardInterrupt

        monkeypatch.setattr(kind, "finish", interrupted)
    with pytest.warns(UserWarning, match="^Training interrupted by user"):
        stopped = fit(10)
    assert stopped.n_iter_ == 2 and stopped.loss_curve_ == reference.loss_curve_
    for a, b in zip(stopped.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
