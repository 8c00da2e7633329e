"""The trainer's validation rows: which rows a ``validation_fraction`` holds out, or the
``validation_data`` given instead (:func:`check_validation_data`).

The policy, stated once: the rows are split by scikit-learn's ``train_test_split`` with
``test_size=fraction`` (so ``ceil(fraction · n)`` validation rows) and
``random_state=seed``, stratified for classification: a single sigmoid output
(binary cross-entropy, one column) on its label ``Y > 0.5``, softmax outputs (categorical
cross-entropy) on the class ``argmax Y``. Multilabel targets (binary cross-entropy on
several columns) and regression are split without stratification, as in scikit-learn.
The rows keep ``train_test_split``'s shuffled order. Fewer than two validation rows, or
no training row, is an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core import Network
from deltaprop.train.scores import CLASSIFICATION_LOSSES

__all__ = ["check_validation_data", "validation_indices", "validation_split"]


def validation_indices(
    Y: np.ndarray, fraction: float, seed: int, loss: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)`` of the trainer's validation split (module docstring).

    Parameters
    ----------
    Y : ndarray of shape (n, n_L)
        The targets as the network sees them (one-hot for softmax outputs).
    fraction : float
        In ``(0, 1)``: the share of the rows held out.
    seed : int
        ``random_state`` of the split; the same seed holds out the same rows.
    loss : str
        The network's loss name (``net.loss.name``): decides the stratification.

    Returns
    -------
    train, validation : ndarray of shape (n_train,) and (n_val,)
        Disjoint, together ``range(n)``, in ``train_test_split``'s (shuffled) order.

    Raises
    ------
    ValueError
        If fewer than two rows are held out or none is left for training.

    Examples
    --------
    >>> Y = np.array([[0.0], [1.0]] * 10)
    >>> tr, va = validation_indices(Y, 0.2, seed=0, loss="binary_crossentropy")
    >>> len(tr), len(va), int(Y[va].sum())
    (16, 4, 2)
    """
    from sklearn.model_selection import train_test_split

    n = Y.shape[0]
    idx = np.arange(n)
    stratify = None
    if loss in CLASSIFICATION_LOSSES and Y.shape[1] == 1:  # binary: stratify on the label
        stratify = (Y[:, 0] > 0.5).astype(str)  # "True"/"False", as scikit-learn names them
    elif loss == "categorical_crossentropy":  # multiclass
        stratify = Y.argmax(axis=1)
    # (multilabel targets are split without stratification, as in scikit-learn)
    tr, va = train_test_split(
        idx, test_size=fraction, random_state=seed, stratify=stratify,
    )  # fmt: skip
    if len(va) < 2 or len(tr) == 0:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' or the size "
            f"of your dataset. Received: validation_fraction={fraction} "
            f"with {n} samples"
        )
    return tr, va


def validation_split(
    X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, fraction: float, seed: int, loss: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(X, Y, w)`` of the training rows, then of the validation rows, by :func:`validation_indices`.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, n_0)
    Y : ndarray of shape (n, n_L)
    w : ndarray of shape (n,) or None
        Sample weights; ``None`` stays ``None`` in both parts.
    fraction, seed, loss
        As in :func:`validation_indices`.

    Returns
    -------
    X_train, Y_train, w_train, X_val, Y_val, w_val
    """
    tr, va = validation_indices(Y, fraction, seed, loss)
    wt = None if w is None else w[tr]
    wv = None if w is None else w[va]
    return X[tr], Y[tr], wt, X[va], Y[va], wv


def check_validation_data(
    net: Network, validation_data: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(X_val, Y_val, w_val)`` of a :meth:`~deltaprop.train.trainer.Trainer.fit`'s
    ``validation_data``, checked against ``net`` as its training data are.

    Parameters
    ----------
    net : Network
    validation_data : tuple (X_val, Y_val) or (X_val, Y_val, sample_weight_val)

    Returns
    -------
    X_val : ndarray of shape (m, n_0)
    Y_val : ndarray of shape (m, n_L)
    w_val : ndarray of shape (m,) or None

    Raises
    ------
    ValueError
        For anything but a pair or a triple, or arrays that do not fit the network.
    """
    if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
        raise ValueError(
            "validation_data must be (X_val, Y_val) or (X_val, Y_val, sample_weight_val)"
        )
    Xv = net.check_X(validation_data[0], "X_val")
    Yv = net.check_Y(validation_data[1], Xv.shape[0])
    wv = (
        net.check_sample_weight(validation_data[2], Xv.shape[0])
        if len(validation_data) == 3
        else None
    )
    return Xv, Yv, wv
