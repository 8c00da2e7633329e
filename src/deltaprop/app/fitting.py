"""Fitting an estimator on a table's features: the validation split, the fit (with
checkpoints, or resumed from one), and the predictions as a table."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deltaprop.app.errors import DataError
from deltaprop.train import Callback

if TYPE_CHECKING:
    import argparse

    from deltaprop.app.console import Output
    from deltaprop.app.preprocessing import TargetScaler

__all__ = [
    "fit_estimator",
    "note_warnings",
    "predict_table",
    "refit_on_all_rows",
    "refit_run",
    "train_validation_split",
]


def train_validation_split(
    y: Any, fraction: float, task: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)`` in file order, by the one validation policy
    (:func:`deltaprop.train.split_validation_rows`: ``ceil(fraction · n)`` rows, stratified
    for classification, a class with a single row kept in training).

    ``fraction`` 0 holds out nothing; a split with fewer than
    :data:`~deltaprop.train.MIN_VALIDATION_ROWS` validation rows is none either (the run
    says so and trains without validation).

    Raises
    ------
    DataError
        If ``fraction`` leaves no training row.
    """
    from deltaprop.train import MIN_VALIDATION_ROWS, split_validation_rows, validation_size

    n = len(y)
    idx = np.arange(n)
    if fraction <= 0:
        return idx, idx[:0]
    if n - validation_size(n, fraction) < 1:
        raise DataError(f"--validation {fraction} leaves no training rows out of {n}")
    classes = np.asarray(y).astype(str) if task == "classification" else None
    tr, va = split_validation_rows(n, fraction, seed, classes)
    if len(va) < MIN_VALIDATION_ROWS:
        return idx, idx[:0]
    return np.sort(tr), np.sort(va)


def note_warnings(out: Output, caught: Sequence[warnings.WarningMessage], epochs: int) -> None:
    """One note per warning recorded during a run's fit: a ``ConvergenceWarning`` in the
    command's words (the epoch limit ``epochs``), any other by its first line."""
    from sklearn.exceptions import ConvergenceWarning

    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            out.note(f"training reached --epochs {epochs} before converging")
        else:
            out.note(str(w.message).splitlines()[0])


def fit_estimator(
    est: Any,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: str | os.PathLike[str] | None = None,
    run: dict[str, Any] | None = None,
    allow_changes: bool = False,
) -> dict[str, Any]:
    """Fit an estimator, writing checkpoints, or continue the run of a checkpoint.

    Parameters
    ----------
    est : MLPClassifier or MLPRegressor
        ``max_iter`` is the total number of epochs of the run, a resumed one included.
    X, y, X_val, y_val : ndarray
        The same data as the run that wrote ``resume``, for an exact continuation.
    callbacks : sequence of Callback
    checkpoint : path, optional
        Write a checkpoint there every ``checkpoint_every`` epochs and at the end
        (:class:`deltaprop.train.Checkpoint`; only rank 0 writes under MPI).
    resume : path, optional
        A checkpoint of a run of the same estimator on the same data: the weights,
        optimizer, schedule, random generators and history are restored and training
        continues up to ``max_iter`` epochs in all.
    run : dict, optional
        Facts written in each checkpoint's ``run`` (the command's fingerprint).
    allow_changes : bool, default=False
        Resume even if the estimator's parameters or data differ from the checkpoint's.

    Returns
    -------
    dict
        ``{"resumed_from_epoch": int or None, "epochs": int}``.

    Raises
    ------
    DataError
        If the checkpoint has already reached ``max_iter`` epochs.
    deltaprop.io.ModelFileError
        For a file that is not a checkpoint of this estimator's network.
    """
    from deltaprop.io import ModelFileError
    from deltaprop.sklearn import NothingLeftToTrainError
    from deltaprop.train import Checkpoint, DivergenceError
    from deltaprop.train.checkpoint import ResumeFrom

    start = _StartEpoch()
    inner = [*callbacks, start]
    if checkpoint is not None:
        inner.append(Checkpoint(checkpoint, every=checkpoint_every, run=run))
    est.set_params(callbacks=inner, warm_start=False)
    validation = {} if X_val is None or len(X_val) == 0 else {"X_val": X_val, "y_val": y_val}
    if resume is None:
        est.fit(X, y, **validation)
        return {"resumed_from_epoch": None, "epochs": len(est.loss_curve_)}

    try:
        est.fit(X, y, resume_from=ResumeFrom(resume, allow_changes), **validation)
    except NothingLeftToTrainError as exc:
        raise DataError(
            f"the checkpoint '{exc.path}' is at epoch {exc.epoch}, and the run is to end at "
            f"epoch {exc.limit}: nothing left to train; raise --epochs to go on"
        ) from None
    except (DivergenceError, ModelFileError):
        raise
    except ValueError as exc:  # a checkpoint that does not fit this run is the user's input
        raise DataError(str(exc)) from None
    return {"resumed_from_epoch": start.epoch, "epochs": len(est.loss_curve_)}


def refit_on_all_rows(
    est: Any,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    *,
    callbacks: Sequence[Callback] = (),
) -> None:
    """Train a fresh copy of ``est`` on ``X, y`` (all the rows, the validation ones
    included) for ``epochs`` epochs without validation, and give ``est`` its weights.

    ``est`` keeps its history (the curves and the stop of the fit that picked
    ``epochs``); only its weights and biases change. The copy starts from the same seed.

    Parameters
    ----------
    est : MLPClassifier or MLPRegressor
        Fitted, without batch normalization (its running statistics are not carried).
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    epochs : int
        At least 1: the epoch count the validated fit kept.
    callbacks : sequence of Callback
        For the refit (e.g. Ctrl-C's).
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    if epochs < 1:
        raise ValueError(f"refit_on_all_rows: epochs must be at least 1, got {epochs}")
    params = {**est.get_params(deep=False), "callbacks": None}  # a bar's console won't copy
    again = clone(type(est)(**params)).set_params(
        early_stopping=False,
        max_iter=int(epochs),
        callbacks=list(callbacks),
        warm_start=False,
        tol=0.0,  # exactly ``epochs`` epochs: no stop on a flat training loss
        n_iter_no_change=int(epochs) + 1,
    )
    from deltaprop.sklearn import interrupts_raise

    with warnings.catch_warnings(), interrupts_raise():  # Ctrl-C: not a half refit model
        warnings.simplefilter("ignore", ConvergenceWarning)  # ending at ``epochs`` is the point
        again.fit(X, y)
    est.coefs_ = again.coefs_
    est.intercepts_ = again.intercepts_


def refit_run(
    args: argparse.Namespace,
    run: Any,
    y_train: np.ndarray,
    y_val: np.ndarray,
    out: Output,
) -> None:
    """``--refit``: when early stopping kept epoch K (having stopped the run, or at the
    epoch limit with the best weights restored), train ``run.est`` (``run`` a
    :class:`~deltaprop.app.runs.Run`) afresh on all rows
    (``y_train`` then ``y_val``, as the fit saw them) for K epochs and keep those weights;
    ``run.metrics``, computed before, stay the validated fit's (on rows it did not train
    on), and ``run.refit_epochs`` records K. Skipped (with a note) under batch norm."""
    stop = run.est.history_.stop if run.est.history_ is not None else None
    if not getattr(args, "refit", False) or stop is None:
        return
    if stop.reason not in ("early_stopping", "epochs"):  # not after a divergence, Ctrl-C
        return
    if run.best_epoch is None or not len(run.val_rows):
        return
    if args.batch_norm:
        out.note("--refit is skipped with --batch-norm (its running statistics)")
        return
    k = run.kept_epoch
    X_all = np.vstack([run.X_train, run.X_val])
    y_all = np.concatenate([y_train, y_val])
    start = time.perf_counter()
    refit_on_all_rows(run.est, X_all, y_all, k)
    run.seconds += time.perf_counter() - start
    run.refit_epochs = k
    out.note(
        f"refit on all {len(y_all)} rows for {k} epochs (the best epoch count on the "
        f"validation rows): the model holds those weights; the results are of the "
        f"validated fit's epoch {k} (--no-refit keeps them)"
    )


class _StartEpoch(Callback):
    """The epoch count a fit starts from (a resumed one: the checkpoint's)."""

    epoch: int | None = None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.epoch = int(trainer.epoch)


def predict_table(
    est: Any, X: np.ndarray, target_scaler: TargetScaler | None = None
) -> pd.DataFrame:
    """Predictions as a table: ``prediction``, and ``proba_<class>`` for classifiers."""
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        classes = np.asarray(est.classes_)
        out = {"prediction": est.predict(X)}
        out.update({f"proba_{c}": proba[:, k] for k, c in enumerate(classes)})
        return pd.DataFrame(out)
    pred = est.predict(X)
    if target_scaler is not None:
        pred = target_scaler.inverse(pred)
    if pred.ndim == 2:
        return pd.DataFrame({f"prediction_{k}": pred[:, k] for k in range(pred.shape[1])})
    return pd.DataFrame({"prediction": pred})
