"""The estimators' stop record and divergence policy; ordinary fits never count as diverged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.sklearn.base import DivergenceWarning
from deltaprop.train import DivergenceError


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_an_exploding_estimator_warns_and_keeps_the_last_good_weights(solver: str) -> None:
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier((32,), solver=solver, learning_rate_init=1e3, max_iter=20, random_state=0)
    with pytest.warns(DivergenceWarning, match=r"^Training diverged in epoch 1: the loss reached"):
        clf.fit(X, y)
    assert clf.stop_reason_ == "diverged" and clf.n_iter_ == 1 and np.isnan(clf.loss_)
    assert clf.stop_message_ is not None and "clip" not in clf.stop_message_
    assert "Try a smaller learning rate (it was 1000) or scaling" in clf.stop_message_
    np.testing.assert_array_equal(clf.network_.parameters, clf._trainer.net.parameters)
    assert np.isfinite(clf.network_.parameters).all() and clf.predict(X).shape == y.shape


def test_a_non_finite_estimator_fit_raises_without_a_clip_suggestion() -> None:
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier((32,), solver="sgd", learning_rate_init=1e3, max_iter=5, random_state=0)
    with pytest.raises(DivergenceError, match="non-finite") as info:
        clf.fit(X * 1e300, y)
    assert "clip" not in str(info.value)


def test_the_estimator_says_why_it_stopped() -> None:
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((8,), learning_rate_init=0.05, max_iter=500, random_state=0).fit(X, y)
    assert clf.stop_reason_ == "no_improvement" and clf.n_iter_ < 500
    assert clf.stop_message_ is not None and clf.stop_message_.startswith(
        f"stopped at epoch {clf.n_iter_}: the training loss did not improve by tol=0.0001 for "
        "11 consecutive epochs (more than n_iter_no_change=10)"
    )
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        clf = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    assert clf.stop_message_ == "stopped at epoch 3: reached the epoch limit (max_iter=3)"


def test_a_patience_past_any_fit_and_true_as_one_are_taken_as_scikit_learn_does() -> None:
    """``n_iter_no_change=10**30`` raised TypeError (NumPy's isfinite on a huge int);
    ``max_iter=True`` was refused under the Trainer's name ``epochs``."""
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((4,), n_iter_no_change=10**30, max_iter=3, random_state=0).fit(X, y)
        assert clf.n_iter_ == 3 and clf.stop_reason_ == "epochs"
        assert MLPClassifier((4,), max_iter=True, random_state=0).fit(X, y).n_iter_ == 1


def _datasets() -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for name, load in [("digits", load_digits), ("iris", load_iris),
                       ("breast_cancer", load_breast_cancer), ("diabetes", load_diabetes)]:  # fmt: skip
        X, y = load(return_X_y=True)
        if name == "diabetes":  # scaled targets too: SGD on raw ones (~150) truly diverges
            y = (y - y.mean()) / y.std()
        out.append((name, StandardScaler().fit_transform(X), y))
    return out


@pytest.mark.parametrize(("solver", "lr"), [("adam", 1e-3), ("adam", 1e-2), ("sgd", 0.1)])
def test_ordinary_fits_never_trip_the_divergence_detector(solver: str, lr: float) -> None:
    for name, X, y in _datasets():
        Est = MLPRegressor if name == "diabetes" else MLPClassifier
        est = Est(
            hidden_layer_sizes=(32,),
            solver=solver,
            learning_rate_init=lr,
            max_iter=60,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        assert est.stop_reason_ in ("epochs", "no_improvement"), (name, est.stop_message_)
        base = max(est._trainer.baselines)
        assert max(est.loss_curve_) < 100 * base / 10, name  # a margin of 10 at least
