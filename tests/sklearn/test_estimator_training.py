"""What the estimators hand to the trainer and take back from it (deltaprop.sklearn.training,
deltaprop.sklearn.base): the best weights after a divergence, the verbose lines, the loss
of several outputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from deltaprop.sklearn import MLPClassifier, MLPRegressor
from deltaprop.sklearn.base import DivergenceWarning
from deltaprop.train import Callback, Trainer


class _Keep(Callback):
    """Keeps the estimator's trainer (callbacks are handed it)."""

    def on_train_begin(self, trainer: Trainer, logs: dict | None = None) -> None:
        self.trainer = trainer


def test_divergence_with_early_stopping_restores_the_best_weights() -> None:
    keep = _Keep()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    reg = MLPRegressor(hidden_layer_sizes=(32,), solver="sgd", learning_rate_init=0.3,
                       max_iter=30, early_stopping=True, random_state=0, batch_norm=True,
                       momentum=0.99, callbacks=[keep])  # fmt: skip
    with np.errstate(all="ignore"), pytest.warns(DivergenceWarning, match="were restored"):
        reg.fit(X, y)
    best = keep.trainer.best_state()
    assert best is not None
    parameters, buffers = best
    np.testing.assert_array_equal(reg.network_.parameters, parameters)
    for name, value in reg.network_.buffers():
        np.testing.assert_array_equal(value, buffers[name])
    assert np.isnan(reg.loss_curve_[-1]) and np.isnan(reg.validation_scores_[-1])


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_scikit_learn_lines(
    capsys: pytest.CaptureFixture[str], early_stopping: bool
) -> None:
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(verbose=True, max_iter=2, random_state=0, early_stopping=early_stopping)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf.fit(X, y)
    if early_stopping:
        expected = [
            line
            for i, (loss, score) in enumerate(
                zip(clf.loss_curve_, clf.validation_scores_, strict=True), start=1
            )
            for line in (f"Iteration {i}, loss = {loss:.8f}", f"Validation score: {score:f}")
        ]
    else:
        expected = [
            f"Iteration {i}, loss = {loss:.8f}" for i, loss in enumerate(clf.loss_curve_, 1)
        ]
    assert len(expected) == 2 * (1 + early_stopping)  # with it, a Validation score line each
    assert capsys.readouterr().out == "".join(line + "\n" for line in expected)
    with pytest.warns(ConvergenceWarning):
        clf.set_params(warm_start=True).fit(X, y)  # counted from 1 again in each fit
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


def test_several_outputs_follow_scikit_learn_whose_loss_averages_them() -> None:
    """With k outputs both descend ½ Σ_k (ŷ_k - y_k)² (the same weights and predictions);
    scikit-learn reports ½ mean_k, so its loss_curve_ is ours / k (docs/api.md)."""
    import warnings

    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = np.c_[X[:, 0], 2 * X[:, 1], np.tanh(X[:, 2])]
    kw = {"hidden_layer_sizes": (8,), "max_iter": 5, "alpha": 0.0, "tol": 0.0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # five epochs, on purpose
        theirs, ours = SkMLPRegressor(**kw).fit(X, Y), MLPRegressor(**kw).fit(X, Y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, 3 * np.array(theirs.loss_curve_), rtol=1e-9)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_randomstate_draws_scikit_learns_initial_weights(solver: str) -> None:
    """``random_state=np.random.RandomState(s)`` draws scikit-learn's initial weights, as
    ``random_state=s`` does (scikit-learn draws them first from the instance itself), so
    L-BFGS, which has no other randomness, takes scikit-learn's iterations."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = load_iris(return_X_y=True)
    kw = {"solver": solver, "hidden_layer_sizes": (5,), "max_iter": 1 if solver == "adam" else 30,
          "learning_rate_init": 1e-12}  # fmt: skip
    with pytest.warns(ConvergenceWarning):
        theirs = SkMLPClassifier(**kw, random_state=np.random.RandomState(3)).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        ours = MLPClassifier(**kw, random_state=np.random.RandomState(3)).fit(X, y)
        by_int = MLPClassifier(**kw, random_state=3).fit(X, y)
    for mine, sk, same in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_,
                              *theirs.intercepts_], [*by_int.coefs_, *by_int.intercepts_],
                              strict=True):  # fmt: skip
        np.testing.assert_allclose(mine, sk, rtol=0, atol=1e-6 if solver == "lbfgs" else 1e-9)
        np.testing.assert_array_equal(mine, same)


def test_a_table_with_text_columns_is_refused_naming_them_and_the_pipeline() -> None:
    """scikit-learn's ``could not convert string to float`` for a DataFrame with text
    columns, with the columns named and the pipeline that encodes them (the raw penguins
    table is what a newcomer passes first)."""
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "island": ["Biscoe", "Dream"] * 2,
                          "b": [0.5, 0.1, 0.2, 0.3]})  # fmt: skip
    y = [0, 1, 0, 1]
    message = (r"could not convert string to float: 'Biscoe' \(X has text columns: 'island'; "
               r"encode them first, e.g. make_pipeline\(deltaprop.sklearn.TablePreprocessor\(\)")  # fmt: skip
    with pytest.raises(ValueError, match=message):
        MLPClassifier(max_iter=2).fit(frame, y)
    numbers = frame[["a", "b"]]
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(max_iter=2).fit(numbers, y)
    with pytest.raises(ValueError, match=r"'x' \(X has text columns: 'b'; encode them"):
        clf.predict(numbers.assign(b=["x", "1", "2", "3"]))
    with pytest.raises(ValueError, match=r"^could not convert string to float: 'x'$"):
        MLPClassifier(max_iter=2).fit([["x", "1"], ["2", "3"]], [0, 1])  # no frame: as raised
    with pytest.raises(ValueError, match=r"TablePreprocessor\(\), MLPRegressor\(\)\)"):
        MLPRegressor(max_iter=2).fit(frame, [0.5, 1.0, 1.5, 2.0])
