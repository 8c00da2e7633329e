"""scikit-learn's callbacks (``set_callbacks``, ``sklearn.callback``) on both estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import load_iris, make_regression

from deltaprop import Callback, MLPClassifier, MLPRegressor, Trainer
from deltaprop.core import Network

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_REG, Y_REG = make_regression(n_samples=80, n_features=4, noise=0.1, random_state=0)
X_IRIS = (X_IRIS - X_IRIS.mean(0)) / X_IRIS.std(0)


class Recorder:
    """A scikit-learn FitCallback that records every hook call."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[tuple[str, str, int, int]] = []
        self.stop_after = stop_after
        self.scores: list[float] = []

    def setup(self, estimator: Any, context: Any) -> None:
        self.events.append(("setup", context.task_name, context.task_id, context.max_subtasks))

    def teardown(self, estimator: Any, context: Any) -> None:
        self.events.append(("teardown", context.task_name, context.task_id, 0))

    def on_fit_task_begin(self, estimator: Any, context: Any) -> None:
        self.events.append(("begin", context.task_name, context.task_id, context.max_subtasks))

    def on_fit_task_end(
        self, estimator: Any, context: Any, *, X: Any = None, y: Any = None,
        fitted_estimator: Any = None,
    ) -> bool:  # fmt: skip
        self.events.append(("end", context.task_name, context.task_id, context.max_subtasks))
        if context.task_name == "epoch" and fitted_estimator is not None:
            self.scores.append(fitted_estimator.score(X, y))
        epochs = sum(e[:2] == ("end", "epoch") for e in self.events)
        return self.stop_after is not None and epochs >= self.stop_after

    def count(self, kind: str, task: str) -> int:
        return sum(e[:2] == (kind, task) for e in self.events)


class LiveScores(Callback):
    """Our own callback, beside scikit-learn's: the estimator's score after each epoch."""

    def __init__(self, est: Any, X: Any, y: Any) -> None:
        self.est, self.X, self.y, self.scores = est, X, y, []

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.scores.append(self.est.score(self.X, self.y))


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_one_fit_task_with_an_epoch_per_subtask(solver: str) -> None:
    rec = Recorder()
    est = MLPClassifier((6,), solver=solver, max_iter=300, tol=1e-2, random_state=0)
    est.set_callbacks(rec).fit(X_IRIS, Y_IRIS)
    assert 0 < est.n_iter_ < 300  # converged: fewer epochs than the maximum
    assert rec.count("end", "epoch") == est.n_iter_  # lbfgs too: no empty one after the last
    assert rec.count("begin", "epoch") == rec.count("end", "epoch")
    assert len(rec.scores) == est.n_iter_
    max_sub = 300
    assert rec.events[0] == ("setup", "fit", 0, max_sub)
    assert rec.events[1] == ("begin", "fit", 0, max_sub)
    assert rec.events[-2] == ("end", "fit", 0, max_sub)
    assert rec.events[-1] == ("teardown", "fit", 0, 0)
    epoch_ids = [e[2] for e in rec.events if e[:2] == ("begin", "epoch")]
    assert epoch_ids == list(range(len(epoch_ids)))
    assert rec.scores[-1] == est.score(X_IRIS, Y_IRIS)


def test_scoring_monitor_logs_the_estimators_scores() -> None:
    mon = ScoringMonitor(scoring="accuracy")
    est = MLPClassifier((6,), max_iter=8, learning_rate_init=0.05, random_state=0)
    live = LiveScores(est, X_IRIS, Y_IRIS)
    est.set_params(callbacks=[live]).set_callbacks(mon)
    with pytest.warns(Warning, match="Maximum iterations"):
        est.fit(X_IRIS, Y_IRIS)
    rows = mon.get_logs().data
    epochs = [r["accuracy"] for r in rows if r["task_name"] == "epoch"]
    assert len(epochs) == est.n_iter_ == 8
    assert epochs == live.scores  # our own callbacks= ran beside, seeing the same weights
    assert len(set(epochs)) > 1  # the weights did change between epochs
    (root,) = [r["accuracy"] for r in rows if r["task_name"] == "fit"]
    assert root == est.score(X_IRIS, Y_IRIS) == epochs[-1]


def test_scoring_monitor_on_the_regressor_with_sample_weights() -> None:
    mon = ScoringMonitor(scoring="r2")
    w = np.linspace(0.5, 2.0, len(Y_REG))
    est = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    with pytest.warns(Warning, match="lbfgs failed to converge"):
        est.set_callbacks(mon).fit(X_REG, Y_REG, sample_weight=w)
    rows = mon.get_logs().data
    epochs = [r["r2"] for r in rows if r["task_name"] == "epoch"]
    assert len(epochs) == est.n_iter_
    (root,) = [r["r2"] for r in rows if r["task_name"] == "fit"]
    assert root == pytest.approx(est.score(X_REG, Y_REG, sample_weight=w), abs=1e-12)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_progress_bar_prints(Est: Any, capsys: pytest.CaptureFixture[str]) -> None:
    X, y = (X_IRIS, Y_IRIS) if Est is MLPClassifier else (X_REG, Y_REG)
    est = Est(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0).set_callbacks(
        ProgressBar()
    )
    with pytest.warns(Warning, match="lbfgs failed to converge"):
        est.fit(X, y)
    out = capsys.readouterr().out
    assert f"{Est.__name__} - fit" in out
    assert "100%" in out


def test_a_stop_request_ends_the_fit() -> None:
    rec = Recorder(stop_after=3)
    mon = ScoringMonitor(scoring="accuracy")  # scikit-learn's own never ask to stop
    est = MLPClassifier((6,), max_iter=50, random_state=0).set_callbacks(mon, rec)
    est.fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 3
    assert est.stop_reason_ == "callback"
    assert est.stop_message_ == "stopped at epoch 3: a callback (Recorder) set stop_training"


def test_a_stop_request_names_the_users_callbacks() -> None:
    class Other(Recorder):
        pass

    est = MLPClassifier((6,), max_iter=50, random_state=0).set_callbacks(Recorder(2), Other())
    est.fit(X_IRIS, Y_IRIS)
    assert est.stop_message_ == (
        "stopped at epoch 2: a callback (Recorder or Other) set stop_training"
    )


def test_partial_fit_is_a_task_of_one_epoch() -> None:
    rec = Recorder()
    est = MLPClassifier((6,), random_state=0).set_callbacks(rec)
    est.partial_fit(X_IRIS, Y_IRIS, classes=np.unique(Y_IRIS))
    est.partial_fit(X_IRIS, Y_IRIS)
    assert rec.count("begin", "fit") == 2
    assert rec.count("end", "epoch") == 2
    assert ("setup", "fit", 0, 1) in rec.events


def test_no_callbacks_no_context() -> None:
    est = MLPClassifier((4,), max_iter=5, random_state=0)
    with pytest.warns(Warning, match="Maximum iterations"):
        est.fit(X_IRIS, Y_IRIS)
    assert not hasattr(est, "_callback_fit_ctx")
    # the bridge is only there during a fit with callbacks; Ctrl-C's stop always
    assert [type(cb).__name__ for cb in est._trainer.callbacks] == ["EstimatorStop"]


def test_sklearn_callback_in_callbacks_parameter_points_to_set_callbacks() -> None:
    est = MLPClassifier((4,), max_iter=5, callbacks=[ProgressBar()])
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a scikit-learn callback \(ProgressBar"
                       r"\).*set_callbacks"):  # fmt: skip
        est.fit(X_IRIS, Y_IRIS)
    net = Network([4, 3], "relu", "categorical_crossentropy", seed=0)
    with pytest.raises(TypeError, match="set_callbacks"):
        Trainer(net, callbacks=[ScoringMonitor(scoring="accuracy")]).fit(X_IRIS, np.eye(3)[Y_IRIS])


def test_progress_bar_propagates_from_a_meta_estimator(capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.model_selection import GridSearchCV

    est = MLPClassifier((4,), solver="lbfgs", max_iter=5, random_state=0)
    search = GridSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=2)
    search.set_callbacks(ProgressBar(max_propagation_depth=None))
    with pytest.warns(Warning, match="lbfgs failed to converge"):
        search.fit(X_IRIS, Y_IRIS)
    out = capsys.readouterr().out
    assert out.count("MLPClassifier - fit") == 2 * 2 + 1  # each candidate and split, the refit
