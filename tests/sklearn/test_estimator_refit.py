"""A warm-started fit and partial_fit re-read set_params as scikit-learn 1.9's MLPs do
(deltaprop.sklearn.refit); lbfgs ignores early_stopping; validation_fraction=0.0; the
verbose texts beside scikit-learn's own."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from deltaprop.data import NpyDataset
from deltaprop.sklearn import DivergenceWarning, MLPClassifier

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = StandardScaler().fit_transform(X_IRIS)
KW: dict[str, Any] = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 5}


def both(**kw: Any) -> list[Any]:
    """The same warm-started classifier from deltaprop and from scikit-learn, fitted once."""
    ests = [
        MLPClassifier(warm_start=True, **KW, **kw),
        sk.MLPClassifier(warm_start=True, **KW, **kw),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in ests:
            est.fit(X_IRIS, Y_IRIS)
    return ests


def refit(est: Any, partial: bool = False, **params: Any) -> float:
    """``set_params(**params)`` then one more fit; the largest change of a weight."""
    before = [c.copy() for c in est.coefs_]
    est.set_params(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if partial:
            est.partial_fit(X_IRIS, Y_IRIS)
        else:
            est.fit(X_IRIS, Y_IRIS)
    return max(float(np.abs(c - b).max()) for c, b in zip(est.coefs_, before, strict=True))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_warm_fit_takes_a_new_learning_rate(solver: str) -> None:
    for est in both(solver=solver, learning_rate_init=0.01):
        assert refit(est, learning_rate_init=1e-12) < 1e-8
        assert est._optimizer.learning_rate == pytest.approx(1e-12)
        assert est.n_iter_ == 5 and len(est.loss_curve_) == 10 and est.t_ == 1500


def test_a_warm_fit_takes_alpha_solver_momentum_and_schedule() -> None:
    for est in both(solver="sgd", learning_rate_init=0.05):
        norm = np.linalg.norm(est.coefs_[0])
        refit(est, alpha=100.0)  # the penalty pulls the weights in (both: to about 0.55)
        assert np.linalg.norm(est.coefs_[0]) < 0.7 * norm
    for est in both(solver="adam"):
        refit(est, solver="sgd", momentum=0.0, learning_rate="invscaling")
        opt = est._optimizer
        assert type(opt).__name__ in ("SGD", "SGDOptimizer") and opt.momentum == 0.0
    ours = both(solver="adam")[0]
    refit(ours, solver="sgd", momentum=0.0, learning_rate="invscaling")
    assert ours._trainer.schedule.name == "invscaling"


def test_a_warm_fit_takes_tol_verbose_and_early_stopping(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for est in both(solver="adam", learning_rate_init=0.01, tol=0.0):
        refit(est, tol=100.0, n_iter_no_change=2, verbose=True)
        assert est.n_iter_ == 3  # three epochs without an improvement of 100 stop it
        assert capsys.readouterr().out.count("Iteration ") == 3
    ours, theirs = both(solver="adam", learning_rate_init=0.01)
    refit(ours, early_stopping=True, validation_fraction=0.2)
    assert len(ours.validation_scores_) == ours.n_iter_ == 5
    assert ours.best_validation_score_ == max(ours.validation_scores_) > 0
    with pytest.raises(AttributeError):  # scikit-learn 1.9 fails here; deltaprop goes on
        refit(theirs, early_stopping=True, validation_fraction=0.2)


def test_partial_fit_keeps_its_optimizer_but_reads_alpha() -> None:
    for est in both(solver="sgd", learning_rate_init=0.05):
        first = est._optimizer
        assert refit(est, partial=True, learning_rate_init=1e-12) > 1e-4
        assert est._optimizer is first or est._optimizer.learning_rate == pytest.approx(0.05)
        norm = np.linalg.norm(est.coefs_[0])
        refit(est, partial=True, alpha=100.0)  # both: to 0.94 (1.00 with the old alpha)
        assert np.linalg.norm(est.coefs_[0]) < 0.97 * norm


def test_partial_fit_after_an_lbfgs_fit_builds_the_stochastic_optimizer() -> None:
    ours, theirs = both(solver="lbfgs")
    refit(ours, partial=True, solver="adam")
    assert type(ours._optimizer).__name__ == "Adam" and ours.n_iter_ == 1
    with pytest.raises(AttributeError, match="loss_curve_"):  # scikit-learn 1.9 fails here
        refit(theirs, partial=True, solver="adam")


def test_lbfgs_ignores_early_stopping_as_scikit_learn() -> None:
    kw = {**KW, "solver": "lbfgs", "max_iter": 30}
    fits = []
    for cls in (MLPClassifier, sk.MLPClassifier):
        for early in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(
                    cls(early_stopping=early, validation_fraction=0.5, **kw).fit(X_IRIS, Y_IRIS)
                )
    ours, ours_es, _, theirs_es = fits
    for a, b in zip(ours.coefs_, ours_es.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)  # every row trained on, the last iterate kept
    assert ours_es.loss_ == ours.loss_ and ours_es.n_iter_ == ours.n_iter_ > 5
    for est in (ours_es, theirs_es):
        assert est.t_ == 0 and not hasattr(est, "best_loss_")
        assert getattr(est, "validation_scores_", None) is None
        assert getattr(est, "best_validation_score_", None) is None
    assert len(ours_es.loss_curve_) == ours_es.n_iter_ and not hasattr(theirs_es, "loss_curve_")


def test_validation_fraction_zero() -> None:
    for cls in (MLPClassifier, sk.MLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls(validation_fraction=0.0, **KW).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match=r"early_stopping=True, validation_fraction=0\.0"):
        MLPClassifier(validation_fraction=0.0, early_stopping=True, **KW).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match=r"early_stopping=True, validation_fraction=0\.0"):
        MLPClassifier(validation_fraction=0.0, early_stopping=True, **KW).fit(
            NpyDataset(X_IRIS, Y_IRIS.astype(float))
        )  # out of core too
    with pytest.raises(ValueError, match="validation_fraction"):
        MLPClassifier(validation_fraction=1.0, **KW).fit(X_IRIS, Y_IRIS)
    with warnings.catch_warnings():  # a validation set given: nothing to hold out
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(validation_fraction=0.0, early_stopping=True, **KW)
        clf.fit(X_IRIS, Y_IRIS, X_val=X_IRIS[:20], y_val=Y_IRIS[:20])
    assert len(clf.validation_scores_) == clf.n_iter_


def _template(text: str) -> str:
    return re.sub(r"loss = \d+\.\d+|Validation score: \d+\.\d+", "<n>", text)


@pytest.mark.parametrize(
    "kw",
    [
        {"solver": "sgd", "learning_rate": "adaptive", "learning_rate_init": 0.1, "tol": 100.0,
         "n_iter_no_change": 1, "max_iter": 50},
        {"solver": "sgd", "tol": 100.0, "n_iter_no_change": 1, "early_stopping": True},
        {"solver": "adam", "early_stopping": True, "max_iter": 3},
    ],
)  # fmt: skip
def test_verbose_text_is_scikit_learns(
    capsys: pytest.CaptureFixture[str], kw: dict[str, Any]
) -> None:
    outs = []
    for cls in (MLPClassifier, sk.MLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls(**{**KW, **kw, "verbose": True}).fit(X_IRIS, Y_IRIS)
        outs.append(_template(capsys.readouterr().out))
    assert outs[0] == outs[1]
    if kw.get("learning_rate") == "adaptive":
        assert "Setting learning rate to 0.020000\n" in outs[0]
        assert outs[0].endswith("Learning rate too small. Stopping.\n")


def test_a_warm_fit_under_a_strong_alpha_is_not_a_divergence() -> None:
    """alpha=1e4 on weights trained without it: a first objective hundreds of times the
    data loss, which falls as the penalty pulls the weights in (scikit-learn's Adam shrinks
    them too); the divergence baseline counts the L2 term of the starting weights."""
    for est in both(solver="adam"):
        norm = np.linalg.norm(est.coefs_[0])
        with warnings.catch_warnings():
            warnings.simplefilter("error", DivergenceWarning)
            refit(est, alpha=1e4)
        assert np.linalg.norm(est.coefs_[0]) < 0.995 * norm  # both: 2.306 to 2.282
        assert getattr(est, "stop_reason_", "max_iter") != "diverged"
