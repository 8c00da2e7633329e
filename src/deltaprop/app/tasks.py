"""The target of a table and its task: classification or regression; the metrics of each.

:func:`detect_task`: a text, boolean or categorical target is classification; a target
with non-integer numbers is regression; an integer-valued target is classification when it
has 2 distinct values, or at most 20 that are each, on average, at least 20 rows
(``n_unique <= 20`` and ``n_unique <= 5 %`` of the rows), and regression otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deltaprop.app.columns import category_strings, is_numeric
from deltaprop.app.errors import DataError, UsageError, shown
from deltaprop.app.preprocessing import power_of_two_unit
from deltaprop.app.tables import no_column_message

if TYPE_CHECKING:
    from deltaprop.app.preprocessing import TargetScaler

__all__ = [
    "EXACT_INTEGERS", "MAX_CLASSES", "align_labels", "check_classes", "check_target",
    "check_task_options", "detect_task", "integral_labels", "label_flags", "metrics", "resolve_task",
    "split_target", "task_from_counts",
]  # fmt: skip

MAX_CLASSES = 20
"""The most distinct integers of a target that :func:`detect_task` takes for classes."""
EXACT_INTEGERS = 2.0**53
"""Beyond this, every float64 is an integer: such a target is not a set of integer labels."""


def label_flags(values: np.ndarray) -> tuple[bool, bool]:
    """Whether float ``values`` are all whole numbers, and all below :data:`EXACT_INTEGERS`
    in magnitude (the two halves of :func:`integral_labels`, which the task's reasons
    tell apart)."""
    return bool(np.all(values == np.round(values))), bool(np.all(np.abs(values) < EXACT_INTEGERS))


def integral_labels(values: np.ndarray) -> bool:
    """Whether float ``values`` are integer labels: whole numbers below :data:`EXACT_INTEGERS`."""
    return all(label_flags(values))


def split_target(
    frame: pd.DataFrame,
    target: str,
    path: Any,
    *,
    ignore: Sequence[str] = (),
    option: str = "--target",
) -> tuple[pd.DataFrame, pd.Series, int]:
    """Separate the feature columns from the target; drop rows without a target.

    Parameters
    ----------
    frame : pandas.DataFrame
    target : str
    path : str or path-like
        For messages.
    ignore : sequence of str
        Columns that are not features (identifiers, leaks).
    option : str, default="--target"
        What names the target in the message for a missing column.

    Returns
    -------
    features : pandas.DataFrame
    y : pandas.Series
    n_dropped : int
        Rows dropped because their target is missing.
    """
    if target not in frame.columns:
        raise DataError(no_column_message(target, frame.columns, path, option))
    for name in ignore:
        if name not in frame.columns:
            raise DataError(no_column_message(name, frame.columns, path, "--ignore"))
    keep = frame[target].notna().to_numpy()
    if not keep.any():
        raise DataError(f"the target column {target!r} of '{path}' has no values")
    # by dropping labels: a list of every other column to keep costs ~70 µs a column
    features = frame.drop(columns=[target, *ignore])
    features = features if keep.all() else features.loc[keep]
    if features.shape[1] == 0:
        raise DataError(f"'{path}' has no feature columns besides the target {target!r}")
    y = frame.loc[keep, target]
    # the features keep the file's row labels, so that messages name rows as the file does
    return features, y.reset_index(drop=True), int((~keep).sum())


def detect_task(y: pd.Series) -> tuple[str, str]:
    """``("classification" | "regression", reason)`` for a target column (see the module).

    Examples
    --------
    >>> import pandas as pd
    >>> detect_task(pd.Series(["a", "b", "a"]))[0]
    'classification'
    >>> detect_task(pd.Series([0.5, 1.25, 3.0]))[0]
    'regression'
    """
    name = repr(str(y.name)) if y.name is not None else "the target"
    if not is_numeric(y):
        return "classification", f"{name} holds text, booleans or categories"
    values = y.to_numpy(dtype=np.float64)
    finite = bool(np.all(np.isfinite(values)))
    n_unique = len(np.unique(values)) if finite else None
    return task_from_counts(name, len(values), finite, *label_flags(values), n_unique)


def task_from_counts(
    name: str, n_rows: int, finite: bool, whole: bool, small: bool, n_unique: int | None
) -> tuple[str, str]:
    """:func:`detect_task`'s rule for a numeric target of ``n_rows`` rows, from what it
    needs to know: whether every value is ``finite``, ``whole`` (an integer) and ``small``
    (below :data:`EXACT_INTEGERS` in magnitude), and the number of distinct values
    (``None``: more than the most classes, which a streamed target stops counting at)."""
    if not finite:
        return "regression", f"{name} holds real numbers"
    if not whole:
        return "regression", f"{name} holds non-integer numbers"
    if not small:
        return "regression", f"{name} holds numbers too large to be labels (2**53 or more)"
    if n_unique is not None and n_unique <= 2:
        return "classification", f"{name} holds {n_unique} distinct integers"
    if n_unique is not None and n_unique <= MAX_CLASSES and n_unique <= 0.05 * n_rows:
        return "classification", (
            f"{name} holds {n_unique} distinct integers (at most {MAX_CLASSES} and at most 5% "
            "of the rows)"
        )
    many = n_unique if n_unique is not None else f"more than {MAX_CLASSES}"
    return "regression", f"{name} holds {many} distinct integers in {n_rows} rows"


def check_task_options(args: Any, task: str, target: str, reason: str) -> None:
    """Refuse an option of the other task that would change the fit (a ``--loss`` other
    than squared_error for a classification, ``--class-weight balanced`` for a regression),
    naming the task, why it was chosen, and the way out; they were silently ignored."""
    if task == "classification" and getattr(args, "loss", "squared_error") != "squared_error":
        given, other = f"--loss {args.loss}", "regression"
    elif task == "regression" and getattr(args, "class_weight", "none") != "none":
        given, other = f"--class-weight {args.class_weight}", "classification"
    else:
        return
    raise UsageError(
        f"{given} applies to a {other}, but {target!r} is fitted as a {task} ({reason}); "
        f"give --task {other} to fit it as one, or leave out {given.split()[0]}"
    )


def resolve_task(args: Any, y: pd.Series) -> tuple[str, str]:
    """The task of ``deltaprop train`` (``--task``, or :func:`detect_task` of the target
    ``y``) and the reason, after :func:`check_task_options`."""
    task, reason = detect_task(y) if args.task == "auto" else (args.task, "set by --task")
    check_task_options(args, task, args.target, reason)
    return task, reason


def check_classes(classes: Any, target: str, path: Any) -> None:
    """Refuse the ``classes`` of a classification target (distinct labels) if fewer than two."""
    if len(classes) < 2:
        only = classes[0].item() if hasattr(classes[0], "item") else classes[0]
        raise DataError(
            f"the target {target!r} of '{path}' has a single class ({only!r}); "
            "classification needs at least two"
        )


def check_target(y: pd.Series, task: str, path: Any) -> pd.Series:
    """Check a target for its task; returns it ready for the estimator (labels or floats)."""
    name = str(y.name)
    if task == "classification":
        if is_numeric(y):
            values = y.to_numpy(dtype=np.float64)
            if integral_labels(values):
                y = y.astype(np.int64)
        else:
            y = pd.Series(category_strings(y), name=y.name)
        check_classes(pd.unique(y), name, path)
        return y
    if not is_numeric(y):
        example = next((v for v in y if pd.isna(pd.to_numeric(v, errors="coerce"))), y.iloc[0])
        raise DataError(
            f"regression needs a numeric target, but {name!r} of '{path}' holds {example!r}"
        )
    y = y.astype(np.float64)
    if not np.isfinite(y.to_numpy()).all():
        raise DataError(f"the target {name!r} of '{path}' holds an infinite value")
    return y


def align_labels(y: Any, classes: np.ndarray, path: Any = None) -> np.ndarray:
    """Target labels read from a file, in the type of the model's ``classes_`` (text for
    a model of numbered classes is a :class:`DataError`, where scikit-learn's metrics
    raised "Mix of label input types")."""
    s = pd.Series(y)
    numbers = pd.to_numeric(s, errors="coerce") if not is_numeric(s) else s
    if classes.dtype.kind in "iuf" and numbers.notna().all():
        s = numbers  # numbers read as text ("1", " 2"): the numbers they are
    elif classes.dtype.kind in "iuf":
        example = s[numbers.isna()].iloc[0]
        known = ", ".join(map(str, classes[:5].tolist())) + (", ..." if len(classes) > 5 else "")
        raise DataError(
            f"the target {str(s.name)!r}"
            + ("" if path is None else f" of '{path}'")
            + f" holds text ({shown(example)}), but the model's classes "
            f"are numbers ({known})"
        )
    if classes.dtype.kind in "iu" and is_numeric(s):
        values = s.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    if classes.dtype.kind == "f" and is_numeric(s):
        return s.to_numpy(dtype=np.float64)
    if classes.dtype.kind == "b":
        return s.astype(bool).to_numpy()
    return category_strings(s).astype(str)


def _labels(est: Any, X: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The labels ``est.predict(X)`` gives, from its probabilities ``proba`` of shape
    ``(n, n_classes)``: the most probable class (ties to the first, as ``predict``), with no
    second forward pass; ``predict`` itself where that is not its rule (multilabel, one class)."""
    classes = np.asarray(est.classes_)
    single = proba.ndim == 2 and proba.shape[1] == len(classes) >= 2
    if getattr(est, "_multilabel", True) or not single:
        return np.asarray(est.predict(X))
    return classes[proba.argmax(axis=1)]


def metrics(
    est: Any, X: np.ndarray, y: Any, target_scaler: TargetScaler | None = None
) -> dict[str, float]:
    """Accuracy, log-loss and macro F1 for a classifier; R², MAE and RMSE for a regressor.

    The log-loss is NaN when ``y`` holds labels the model does not know.
    """
    from sklearn import metrics as skm

    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        pred = _labels(est, X, proba)
        y = np.asarray(y)
        known = bool(np.isin(y, est.classes_).all())
        return {
            "accuracy": float(skm.accuracy_score(y, pred)),
            "log_loss": float(skm.log_loss(y, proba, labels=est.classes_)) if known else math.nan,
            "f1_macro": float(skm.f1_score(y, pred, average="macro", zero_division=0)),
        }
    pred = est.predict(X)
    if target_scaler is not None:
        pred = target_scaler.inverse(pred)
    y = np.asarray(y, dtype=np.float64)
    unit = power_of_two_unit(float(max(np.abs(y).max(), np.abs(pred).max())))
    y, pred = y / unit, pred / unit  # the squares of targets near 1e308 (or 1e-308)
    return {
        "r2": float(skm.r2_score(y, pred)) if len(y) > 1 else math.nan,
        "mae": float(skm.mean_absolute_error(y, pred)) * unit,
        "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))) * unit,
    }
