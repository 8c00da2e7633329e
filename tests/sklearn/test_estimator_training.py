"""What the estimators hand to the trainer and take back from it (deltaprop.sklearn.training,
deltaprop.sklearn.base): the best weights after a divergence, the verbose lines."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.sklearn import MLPRegressor
from deltaprop.sklearn.base import DivergenceWarning
from deltaprop.train import Callback, Trainer


class _Keep(Callback):
    """Keeps the estimator's trainer (callbacks are handed it)."""

    def on_train_begin(self, trainer: Trainer) -> None:
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
