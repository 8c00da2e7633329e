"""Prediction in row batches: bounded memory, no caches left, ``batch_size`` accepted."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.core.evaluation import BATCH_BYTES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fitted_classifier() -> MLPClassifier:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=2, random_state=0).fit(X, y)


def test_predict_proba_peak_is_the_output_plus_one_batch() -> None:
    """200k × 20 through (256, 128): unbatched, Z[1] alone would take 410 MB."""
    est = _fitted_classifier()
    n = 200_000
    X = np.random.default_rng(1).normal(size=(n, 20))
    est.predict_proba(X[:10])  # warm-up: lazy imports allocate once
    tracemalloc.start()
    try:
        proba = est.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_bytes = proba.nbytes  # n × 2 × 8 = 3.2 MB
    # the logits, the output and two n × 1 temporaries (2.5 outputs), plus one batch: its
    # widest array is at most BATCH_BYTES and at most four of its arrays live at once
    bound = 3 * out_bytes + 4 * BATCH_BYTES
    assert peak <= bound, (peak, bound)
    assert bound < n * 256 * 8 / 10  # far below one unbatched hidden layer
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    for layer in est.network_.layers:  # no layer holds anything of n rows
        held = [v for v in vars(layer).values() if isinstance(v, np.ndarray) and v.ndim]
        assert all(a.shape[0] != n for a in held)


def test_batch_size_on_the_estimators() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 4))
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 120)]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(
        X, X[:, 0] - X[:, 1]
    )
    np.testing.assert_allclose(clf.predict_proba(X, batch_size=7), clf.predict_proba(X),
                               rtol=1e-13, atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(clf.predict_log_proba(X, batch_size=7), clf.predict_log_proba(X),
                               rtol=1e-13, atol=1e-13)  # fmt: skip
    assert np.array_equal(clf.predict(X, batch_size=7), clf.predict(X))
    np.testing.assert_allclose(reg.predict(X, batch_size=5), reg.predict(X), rtol=1e-13, atol=1e-14)
    assert reg.predict(X, batch_size=5).shape == (120,)
    for call in (clf.predict, clf.predict_proba, reg.predict):
        with pytest.raises(
            ValueError, match=r"batch_size must be a positive integer.*batch_size=0"
        ):
            call(X, batch_size=0)


def test_binary_proba_columns_from_the_logit() -> None:
    est = _fitted_classifier()
    X = np.random.default_rng(3).normal(size=(50, 20))
    proba = est.predict_proba(X, batch_size=16)
    z = est.network_.forward(X, logits=True)[:, 0]
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(proba[:, 0], 1 / (1 + np.exp(z)), rtol=1e-12)
