"""``--hidden auto``: the linear model against the default hidden layer, on one split.

:func:`hidden_layers` is the architecture an option value trains (``"auto"``: the default
hidden layer, which streamed inputs keep); :func:`choose_architecture` trains the linear
candidate on the validated fit's training rows, compares its validation loss with the
hidden candidate's at its kept epoch, and puts the winner in the run.

The linear candidate (no hidden layer: a logistic/softmax or linear regression) is a
convex, L2-penalised problem whose answer is its optimum, which a noisy mini-batch
optimizer stopped early does not reach: it is trained to convergence by L-BFGS on full
batches, with the *same* L2 as the mini-batch runs. The command's convention is
``α/(2m)·ΣW²`` added to the mean loss of a batch of ``m`` rows, so mini-batches of ``m``
minimise ``mean loss + α/(2m)·ΣW²`` whatever the row count ``n``; on a full batch of
``n`` that is ``α·n/m``. (scikit-learn's ``LogisticRegression(C)`` minimises
``C·Σ loss + ½‖w‖²``, the same as ``mean loss + ‖w‖²/(2Cn)``: the command's default
``α`` 0.1 on batches of 32 is ``C = m/(α·n) = 320/n``, about 1 on a few hundred rows.)
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.train import COMMAND_DEFAULTS, effective_batch_size

if TYPE_CHECKING:
    from deltaprop.app.console import Output

__all__ = ["choose_architecture", "describe_hidden", "hidden_layers", "linear_alpha"]


def hidden_layers(hidden: tuple[int, ...] | str) -> tuple[int, ...]:
    """The hidden layers ``--hidden`` trains by itself: ``"auto"`` is the default hidden
    layer (:attr:`~deltaprop.train.CommandDefaults.auto_hidden`), the candidate a run
    without validation rows, a resumed run or a streamed input keeps."""
    if isinstance(hidden, str):  # the parser gives "auto" or sizes
        return COMMAND_DEFAULTS.auto_hidden
    return tuple(hidden)


def describe_hidden(hidden: tuple[int, ...]) -> str:
    """``(64, 32)`` → ``"64,32"``; ``()`` → ``"none"``."""
    return ",".join(map(str, hidden)) or "none"


def linear_alpha(alpha: float, n_rows: int, batch_size: int | str) -> float:
    """The full-batch L2 of the same objective as ``alpha`` on batches of ``batch_size``
    (see the module's docstring): ``alpha · n / m``, ``m`` the batch the rows get."""
    m = (
        min(200, n_rows)
        if isinstance(batch_size, str)
        else effective_batch_size(batch_size, n_rows)
    )
    return alpha * n_rows / m


def _linear(
    make: Callable[..., Any], args: argparse.Namespace, task: str, n_rows: int, validation: bool
) -> Any:
    linear = argparse.Namespace(**{**vars(args), "hidden": ()})
    est = make(linear, task, n_rows, validation)
    return est.set_params(
        solver="lbfgs",
        alpha=linear_alpha(args.alpha, n_rows, args.batch_size),
        early_stopping=False,
        max_iter=args.epochs,
        dropout=0.0,
        batch_norm=False,
    )


def _fit(est: Any, X: np.ndarray, y: np.ndarray, **validation: Any) -> None:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # lbfgs at max_iter: its optimum to tol or close to it
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, **validation)


def choose_architecture(
    args: argparse.Namespace,
    run: Any,
    y_train: np.ndarray,
    y_val: np.ndarray,
    out: Output,
    make: Callable[..., Any],
) -> bool:
    """``--hidden auto``: train the linear candidate on ``run``'s training rows, and if its
    validation loss is lower than that of ``run.est`` (``run`` a
    :class:`~deltaprop.app.runs.Run`; ``make`` its ``make_estimator``) (the default hidden layer) at its
    kept epoch, make it the run's model (its metrics; with ``--refit`` trained again on
    all rows to convergence). ``run.hidden_choice`` records the comparison.

    Returns
    -------
    bool
        True when the linear model won (the caller's refit of the hidden layer is then
        not to be done).
    """
    from deltaprop.app.tasks import metrics

    hidden = hidden_layers("auto")
    if args.hidden != "auto":
        return False
    if not len(run.val_rows) or args.resume is not None:
        why = "no validation rows" if not len(run.val_rows) else "--resume"
        run.hidden_choice = f"{describe_hidden(hidden)} (--hidden auto; {why}: no comparison)"
        return False
    ours = run.est.validation_loss_curve_[run.kept_epoch - 1]
    est = _linear(make, args, run.task, len(run.train_rows), True)
    _fit(est, run.X_train, y_train, X_val=run.X_val, y_val=y_val)
    theirs = float(est.validation_loss_curve_[-1]) if est.validation_loss_curve_ else math.nan
    won = bool(theirs < ours)
    pick, other = ((), hidden) if won else (hidden, ())
    loss = {(): theirs, hidden: ours}
    run.hidden_choice = (
        f"chose {describe_hidden(pick)} (validation loss {loss[pick]:.4g}) over "
        f"{describe_hidden(other)} ({loss[other]:.4g})"
    )
    out.line(f"hidden layers (--hidden auto): {run.hidden_choice}")
    if not won:
        return False
    run.est = est
    run.metrics = {"training": metrics(est, run.X_train, run.y[run.train_rows], run.scaler)}
    run.metrics["validation"] = metrics(est, run.X_val, run.y[run.val_rows], run.scaler)
    if getattr(args, "refit", False):
        X_all = np.vstack([run.X_train, run.X_val])
        y_all = np.concatenate([y_train, y_val])
        again = _linear(make, args, run.task, len(y_all), False)
        _fit(again, X_all, y_all)
        est.coefs_, est.intercepts_ = again.coefs_, again.intercepts_
        run.refit_epochs = len(again.loss_curve_)
        out.note(
            f"refit the linear model on all {len(y_all)} rows to convergence "
            f"({run.refit_epochs} L-BFGS iterations): the model holds those weights; the "
            "results are of its fit on the training rows (--no-refit keeps them)"
        )
    return True
