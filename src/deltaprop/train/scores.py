"""Validation scores (higher is better): weighted accuracy for classification, R² for
regression, and which losses make a classification."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deltaprop.core import Network

__all__ = ["CLASSIFICATION_LOSSES", "ScoreFn", "accuracy_score", "r2_score"]

CLASSIFICATION_LOSSES = frozenset({"binary_crossentropy", "categorical_crossentropy"})
"""The losses whose targets are classes: the trainer scores them by accuracy, stratifies
their validation split and accepts class weights for them."""

ScoreFn = Callable[[Network, np.ndarray, np.ndarray, "np.ndarray | None"], float]


def accuracy_score(net: Network, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted accuracy: argmax for several outputs, threshold 0.5 for one (multilabel:
    every label right)."""
    A = net.forward(X, check=False)
    if not np.isfinite(A).all():
        return math.nan
    if A.shape[1] > 1 and net.loss.name == "categorical_crossentropy":
        right = A.argmax(axis=1) == Y.argmax(axis=1)
    else:
        right = ((A > 0.5) == (Y > 0.5)).all(axis=1)
    return float(np.average(right, weights=w))


def r2_score(net: Network, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted coefficient of determination, averaged uniformly over the outputs."""
    from sklearn.metrics import r2_score as _r2

    A = net.forward(X, check=False)
    if not np.isfinite(A).all():
        return math.nan
    return float(_r2(Y, A, sample_weight=w))
