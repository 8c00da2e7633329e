"""Class weights: the per-sample weights that ``class_weight`` (a table or ``"balanced"``)
gives a classification's targets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.train.scores import CLASSIFICATION_LOSSES

__all__ = ["class_weights"]


def class_weights(
    Y: np.ndarray, w: np.ndarray | None, class_weight: dict[int, float] | str | None, loss: str,
    dtype: Any,
) -> np.ndarray | None:  # fmt: skip
    """Per-sample weights from ``class_weight``, or ``None`` without one.

    ``"balanced"`` gives class ``k`` the weight ``Σw / (n_classes · Σ_{i∈k} w_i)`` (the
    sample weights ``w`` count, so a weight of 2 acts as a repeated sample). For
    multilabel targets each label is balanced on its own (present / absent) and a
    sample gets the mean of its labels' weights.

    Parameters
    ----------
    Y : ndarray of shape (m, n_L)
        The targets as the network sees them (one-hot, or 0/1 columns).
    w : ndarray of shape (m,) or None
        The sample weights.
    class_weight : dict, "balanced" or None
        As :class:`~deltaprop.train.trainer.Trainer`'s ``class_weight``.
    loss : str
        The network's loss name; class weights need a cross-entropy loss.
    dtype : dtype
        Of the returned weights (the network's).

    Returns
    -------
    ndarray of shape (m,) or None
        To multiply into the sample weights.

    Examples
    --------
    >>> Y = np.array([[1.0], [0.0], [0.0], [0.0]])
    >>> class_weights(Y, None, "balanced", "binary_crossentropy", np.float64).tolist()
    [2.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    """
    cw = class_weight
    if cw is None:
        return None
    if loss not in CLASSIFICATION_LOSSES:
        raise ValueError("class_weight needs a cross-entropy loss. Received: loss=" + repr(loss))
    weights = np.ones(Y.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    multilabel = Y.shape[1] > 1 and loss == "binary_crossentropy"
    if multilabel:
        if cw != "balanced":
            raise ValueError(
                "class_weight for multilabel targets must be 'balanced' or None. "
                f"Received: class_weight={cw!r}"
            )
        present = Y > 0.5
        total = weights.sum()
        pos = weights @ present
        neg = total - pos
        w_pos = np.where(pos > 0, total / (2 * np.maximum(pos, 1e-300)), 0.0)
        w_neg = np.where(neg > 0, total / (2 * np.maximum(neg, 1e-300)), 0.0)
        per_label = np.where(present, w_pos, w_neg)
        return per_label.mean(axis=1).astype(dtype)
    if Y.shape[1] == 1:
        idx = (Y[:, 0] > 0.5).astype(np.intp)
        n_classes = 2
    else:
        idx = Y.argmax(axis=1)
        n_classes = Y.shape[1]
    if cw == "balanced":
        counts = np.bincount(idx, weights=weights, minlength=n_classes)
        present_classes = np.count_nonzero(counts)
        table = np.where(
            counts > 0, weights.sum() / (present_classes * np.maximum(counts, 1e-300)), 0.0
        )
    else:
        assert isinstance(cw, dict)
        table = np.ones(n_classes)
        for k, v in cw.items():
            if not (isinstance(k, int | np.integer) and 0 <= k < n_classes):
                raise ValueError(
                    f"class_weight keys must be class indices in [0, {n_classes}). Received: {k!r}"
                )
            if not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
                raise ValueError(
                    f"class_weight values must be non-negative numbers. Received: {k!r}: {v!r}"
                )
            table[k] = v
    return table[idx].astype(dtype)
