"""The scikit-learn estimators: scikit-learn's own estimator checks, and what we add."""

from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from backprop import MLPClassifier, MLPRegressor

CHECKED = [
    MLPClassifier(max_iter=100),
    MLPClassifier(
        hidden_layer_sizes=(8, 6), activation=["tanh", "gelu"], solver="lbfgs", max_iter=100
    ),
    MLPClassifier(solver="sgd", learning_rate="adaptive", class_weight="balanced", max_iter=100),
    MLPClassifier(solver="rmsprop", activation="leaky_relu", alpha=0.01, max_iter=100),
    MLPRegressor(max_iter=100),
    MLPRegressor(loss="huber", solver="adamw", activation="elu", max_iter=100),
    MLPRegressor(loss="absolute_error", activation="softplus", max_iter=100),
    MLPRegressor(solver="sgd", learning_rate="cosine", max_iter=100),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
