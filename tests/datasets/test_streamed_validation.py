"""The estimators' streamed fit with early stopping (deltaprop/sklearn/streamed.py): the
validation rows of deltaprop.data.validation_mask or a given X_val, the stop, and the best
epoch's weights restored."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import log_loss

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.data import NpyDataset, validation_mask

rng = np.random.default_rng(3)
X = np.round(rng.normal(size=(1500, 5)), 6)
y = (X[:, 0] * X[:, 1] > 0).astype(float)
KW = {"hidden_layer_sizes": (16,), "max_iter": 300, "random_state": 0, "batch_size": 64,
      "learning_rate_init": 0.05, "early_stopping": True, "n_iter_no_change": 3,
      "early_stopping_monitor": "val_loss", "alpha": 0.0}  # fmt: skip


def fit(est, *args, **kw):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kw)


def test_early_stopping_holds_out_the_validation_mask_rows_and_restores_the_best() -> None:
    clf = fit(MLPClassifier(**KW, validation_fraction=0.2),
              NpyDataset(X, y, block_rows=100, buffer_blocks=4))  # fmt: skip
    h = clf.history_
    assert h.stop.reason == "early_stopping" and len(h.val_loss) < 300
    assert h.stop.best_epoch < len(h.val_loss)
    held = validation_mask(0.2, clf._trainer.split_seed, 0, len(X))
    assert 250 < held.sum() < 350
    # the restored weights are the best epoch's: their validation loss is the best one
    loss = log_loss(y[held], clf.predict_proba(X[held])[:, 1])
    assert loss == pytest.approx(min(h.val_loss), rel=1e-6)
    assert min(h.val_loss) < h.val_loss[-1]


def test_a_given_validation_set_is_the_one_watched() -> None:
    Xv, yv = X[:300], y[:300].astype(int)
    reg = fit(MLPRegressor(**KW), NpyDataset(X[300:], X[300:, 0] - X[300:, 1]),
              X_val=Xv, y_val=Xv[:, 0] - Xv[:, 1])  # fmt: skip
    h = reg.history_
    assert h.stop.reason == "early_stopping" and len(h.val_loss) < 300
    sq = np.mean((reg.predict(Xv) - (Xv[:, 0] - Xv[:, 1])) ** 2)
    assert sq / 2 == pytest.approx(min(h.val_loss), rel=1e-6)  # squared loss: ½ mean
    clf = fit(MLPClassifier(**KW), NpyDataset(X[300:], y[300:]), X_val=Xv, y_val=yv)
    assert log_loss(yv, clf.predict_proba(Xv)[:, 1]) == pytest.approx(
        min(clf.history_.val_loss), rel=1e-6
    )


def test_x_val_without_y_val_is_refused() -> None:
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        MLPRegressor(**KW).fit(NpyDataset(X, y), X_val=X[:10])
