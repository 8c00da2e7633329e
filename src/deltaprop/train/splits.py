"""The validation rows: which rows a ``validation_fraction`` holds out (one policy, for the
:class:`~deltaprop.train.trainer.Trainer` and the ``deltaprop train`` command), or the
``validation_data`` given instead (:func:`check_validation_data`).

The policy, stated once (:func:`split_validation_rows`), is scikit-learn's
``train_test_split`` as its MLP's ``early_stopping`` uses it:

* **Size.** ``ceil(fraction · n)`` validation rows (:func:`validation_size`), as
  ``train_test_split(test_size=fraction)`` and Keras's ``validation_split`` hold out.
* **Stratified for classes**, ``random_state=seed``: each class keeps its share.
  Regression and multilabel targets are split without stratification, as in scikit-learn.
* **What cannot be stratified** (a class with a single row, fewer validation or training
  rows than classes): ``strict`` (the Trainer, so the estimators, as scikit-learn's MLP)
  refuses it with scikit-learn's error. Otherwise (the command, on a user's table) a class
  with a single row stays in training, so that the model knows every validation label, and
  the other rows are stratified; where even that is impossible the rows are split without
  stratification and a validation row of a class that no training row has moves to training.
* **Too small:** fewer than :data:`MIN_VALIDATION_ROWS` (2) validation rows, or no training
  row, is not a validation split: the Trainer refuses it (scikit-learn's "The validation set
  is too small" error); the command trains without validation rows and says so.

The rows come in ``train_test_split``'s shuffled order (the Trainer trains on them in that
order; the command sorts them into file order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.core import Network
from deltaprop.train.scores import CLASSIFICATION_LOSSES

__all__ = [
    "MIN_VALIDATION_ROWS",
    "check_validation_data",
    "split_validation_rows",
    "validation_indices",
    "validation_size",
    "validation_split",
]

MIN_VALIDATION_ROWS = 2
"""The fewest validation rows a split may hold out (a score of one row means nothing; R² is
not even defined)."""


def validation_size(n: int, fraction: float) -> int:
    """The number of rows a ``fraction`` of ``n`` holds out: ``ceil(fraction · n)``, as
    ``train_test_split(test_size=fraction)``.

    >>> validation_size(150, 0.1), validation_size(333, 0.1), validation_size(10, 0.1)
    (15, 34, 1)
    """
    return math.ceil(fraction * n)


def split_validation_rows(
    n: int, fraction: float, seed: int, classes: np.ndarray | None = None, *, strict: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)`` of ``n`` rows by the policy of the module
    docstring, without the size check (the caller reacts to a split that is too small).

    Parameters
    ----------
    n : int
        The number of rows.
    fraction : float
        In ``(0, 1)``: the share of the rows held out.
    seed : int
        ``random_state`` of the split; the same seed holds out the same rows.
    classes : ndarray of shape (n,), optional
        The class of each row, to stratify on; ``None`` (regression, multilabel) for none.
    strict : bool, default=False
        Refuse, as scikit-learn does, classes that cannot be stratified (a ``ValueError``
        from ``train_test_split``) instead of keeping single-row classes in training.

    Returns
    -------
    train, validation : ndarray of shape (n_train,) and (n_val,)
        Disjoint, together ``range(n)``, in ``train_test_split``'s (shuffled) order, the
        rows of single-row classes last in ``train``.

    Raises
    ------
    ValueError
        With ``strict``, scikit-learn's, for classes that cannot be stratified.

    Examples
    --------
    >>> classes = np.array(["a"] * 6 + ["b"] * 3 + ["lonely"])
    >>> tr, va = split_validation_rows(10, 0.3, seed=0, classes=classes)
    >>> sorted(classes[va].tolist()), "lonely" in classes[tr]
    (['a', 'a', 'b'], True)
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    n_val = validation_size(n, fraction)
    if classes is None or strict:
        tr, va = train_test_split(idx, test_size=n_val, random_state=seed, stratify=classes)
        return tr, va
    _, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    single = counts[inverse] < 2
    rest = idx[~single]
    n_classes = int((counts >= 2).sum())
    if rest.size and n_val >= n_classes and rest.size - n_val >= n_classes:
        tr, va = train_test_split(rest, test_size=n_val, random_state=seed, stratify=classes[rest])
        return np.concatenate([tr, idx[single]]), va
    tr, va = train_test_split(idx, test_size=n_val, random_state=seed)
    unseen = ~np.isin(classes[va], classes[tr])  # classes no training row has
    return np.concatenate([tr, va[unseen]]), va[~unseen]


def validation_indices(
    Y: np.ndarray, fraction: float, seed: int, loss: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)`` of the trainer's validation split
    (:func:`split_validation_rows` on the classes of ``Y``, ``strict`` as scikit-learn's MLP;
    module docstring).

    Parameters
    ----------
    Y : ndarray of shape (n, n_L)
        The targets as the network sees them (one-hot for softmax outputs).
    fraction : float
        In ``(0, 1)``: the share of the rows held out.
    seed : int
        ``random_state`` of the split; the same seed holds out the same rows.
    loss : str
        The network's loss name (``net.loss.name``): decides the stratification, a single
        sigmoid output (binary cross-entropy, one column) on its label ``Y > 0.5``, softmax
        outputs (categorical cross-entropy) on the class ``argmax Y``.

    Returns
    -------
    train, validation : ndarray of shape (n_train,) and (n_val,)
        Disjoint, together ``range(n)``, in ``train_test_split``'s (shuffled) order.

    Raises
    ------
    ValueError
        If fewer than :data:`MIN_VALIDATION_ROWS` rows are held out or none is left for
        training, or (scikit-learn's) if the classes cannot be stratified.

    Examples
    --------
    >>> Y = np.array([[0.0], [1.0]] * 10)
    >>> tr, va = validation_indices(Y, 0.2, seed=0, loss="binary_crossentropy")
    >>> len(tr), len(va), int(Y[va].sum())
    (16, 4, 2)
    """
    n = Y.shape[0]
    classes = None
    if loss in CLASSIFICATION_LOSSES and Y.shape[1] == 1:  # binary: stratify on the label
        classes = (Y[:, 0] > 0.5).astype(str)  # "True"/"False", as scikit-learn names them
    elif loss == "categorical_crossentropy":  # multiclass
        classes = Y.argmax(axis=1)
    # (multilabel targets are split without stratification, as in scikit-learn)
    tr, va = split_validation_rows(n, fraction, seed, classes, strict=True)
    if len(va) < MIN_VALIDATION_ROWS or len(tr) == 0:
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
