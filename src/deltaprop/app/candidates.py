"""``--hidden auto`` (the command's default): the linear model or one hidden layer, chosen
by K-fold cross-validation on the rows the run trains on.

:func:`choose_hidden` compares the candidates of :data:`CANDIDATES` on a table of at most
:data:`AUTO_ROW_LIMIT` rows (above it, :func:`large_table_choice` without a comparison);
:func:`candidate_estimator` builds the chosen one for the run's fit and
:func:`refit_linear` refits a chosen linear model on all rows. :func:`hidden_layers` is
the architecture an option value trains by itself.

The comparison. The rows the run was given (its training and validation rows together)
are split into :data:`CV_FOLDS` folds (stratified for a classification; shuffled from
``--seed``). For each fold, each candidate runs its *whole* procedure on the other folds
and is scored on the fold it never saw: the hidden layer splits the other folds again by
``--validation`` and stops early on that inner split; the linear model is trained on the
other folds to convergence. So no candidate's score is of rows that chose its epochs (a
single validation split, which stopped the network early, favoured the network). The
fold's network is scored as early stopping leaves it, not refit on all of the other
folds as the run's own model is: the refit doubled the comparison's fits (iris: 1.6 s
against 0.6 s for the whole run, median of three on a busy 2-core machine) and changed
no choice on the quality test's five tables of at most 1000 rows at split seeds 0, 1
and 2 (on the 150 rows of the tests' penguins.csv it tips 32 to the linear model:
0.0556 ± 0.013 against 0.0619 ± 0.011, where the refit gave 32 0.0485); trained on fewer
rows, the network's score is, if anything, pessimistic, which errs toward the simpler
model as the rule below does. The
score is the mean held-out loss over the folds: the log-loss of a classification, the
mean squared error of a regression (in the standardized target, with
``--scale-target``). The rule is the one-standard-error rule (:func:`one_standard_error`):
the linear model unless the network's mean is lower by more than one standard error of
the lowest mean. (On the quality test's tables the lower mean alone kept the network on
breast cancer at split seeds 1 and 2, where it is worse held out; the folds' noise there,
±0.01-0.03 in log-loss, is as large as the gaps.) The winner then trains as usual on the
run's split (the network with early stopping, the linear model by L-BFGS) and is refit
on all rows. Everything follows ``--seed``: the same seed and data give the same choice.
Ctrl-C during the comparison ends the command (exit 130) before any model exists.

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
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.train import COMMAND_DEFAULTS, effective_batch_size

if TYPE_CHECKING:
    from deltaprop.app.console import Output

__all__ = [
    "AUTO_ROW_LIMIT",
    "CANDIDATES",
    "CV_FOLDS",
    "HiddenChoice",
    "candidate_estimator",
    "choose_hidden",
    "chosen_estimator",
    "command_alpha",
    "cross_validated_losses",
    "describe_hidden",
    "hidden_layers",
    "large_table_choice",
    "largest_hidden",
    "linear_alpha",
    "one_standard_error",
    "refit_linear",
]

CANDIDATES: tuple[tuple[int, ...], ...] = ((), COMMAND_DEFAULTS.auto_hidden)
"""The architectures ``--hidden auto`` compares: the linear model and one hidden layer."""

CV_FOLDS = 5
"""The folds of the comparison (scikit-learn's ``cross_val_score`` default)."""

AUTO_ROW_LIMIT = 1000
"""The most rows (training and validation) on which ``--hidden auto`` compares; above it
:func:`large_table_choice` trains without a comparison. The comparison costs about ``CV_FOLDS``
fits of each candidate (1-5 s on a few hundred rows on a busy 2-core machine, against a
0.2-0.6 s run; 6-7 s on digits' 1,347 training rows of the quality test, more than its
run); and the linear model's edge is on small
noisy tables (diabetes' 331 rows, wine's 133), where a layer of 32 has more weights than
the rows pin down: on digits the folds prefer the layer of 32 by far at every split
seed tried (cross-validated log-loss 0.09-0.10 against the linear model's 0.13-0.14)."""


def hidden_layers(hidden: tuple[int, ...] | str) -> tuple[int, ...]:
    """The hidden layers ``--hidden`` trains by itself: ``"auto"`` is the default hidden
    layer (:attr:`~deltaprop.train.CommandDefaults.auto_hidden`), the candidate a run
    without a comparison (streamed inputs, a large table, no early stopping) trains."""
    if isinstance(hidden, str):  # the parser gives "auto" or sizes
        return COMMAND_DEFAULTS.auto_hidden
    return tuple(hidden)


def largest_hidden(hidden: tuple[int, ...] | str, n_rows: int) -> tuple[int, ...]:
    """The largest hidden layers ``--hidden`` may train on ``n_rows`` rows (for the size
    check before any fit): :attr:`~deltaprop.train.CommandDefaults.large_hidden` for
    ``"auto"`` above :data:`AUTO_ROW_LIMIT` rows, else :func:`hidden_layers`."""
    if isinstance(hidden, str) and n_rows > AUTO_ROW_LIMIT:
        return COMMAND_DEFAULTS.large_hidden
    return hidden_layers(hidden)


def describe_hidden(hidden: tuple[int, ...]) -> str:
    """``(64, 32)`` → ``"64,32"``; ``()`` → ``"none"``."""
    return ",".join(map(str, hidden)) or "none"


def _batch_rows(n_rows: int, batch_size: int | str) -> int:
    if isinstance(batch_size, str):  # "auto": scikit-learn's min(200, n)
        return min(200, n_rows)
    return effective_batch_size(batch_size, n_rows)


def command_alpha(alpha: float | str, n_rows: int, batch_size: int | str) -> float:
    """``--alpha``'s L2 for a fit on ``n_rows`` rows: ``alpha`` itself, or for ``"auto"``
    ``min(auto_alpha, m / n)`` with ``m`` the batch the rows get.

    ``m / n`` is the L2 whose total over an epoch is scikit-learn's
    ``LogisticRegression(C=1)`` (``mean loss + ‖w‖²/(2n)``, see the module's docstring):
    a penalty of fixed total strength, whose share per row shrinks as rows come in. The
    command's :attr:`~deltaprop.train.CommandDefaults.auto_alpha` (0.1 per batch: a
    fixed share per row) is the stronger on small tables, where it keeps the
    probabilities from overconfidence; above ``10·m`` rows (320 in batches of 32) the
    fixed total is. On digits (1,077 training rows) 0.1 left a layer of 32 under-confident:
    held-out log-loss 0.095 against 0.084 at 0.03 ≈ 32/1,077, mean of 12 runs (three
    splits, four seeds; docs/cli.md)."""
    if not isinstance(alpha, str):
        return float(alpha)
    return min(COMMAND_DEFAULTS.auto_alpha, _batch_rows(n_rows, batch_size) / max(n_rows, 1))


def linear_alpha(alpha: float | str, n_rows: int, batch_size: int | str) -> float:
    """The full-batch L2 of the same objective as ``alpha`` (:func:`command_alpha`) on
    batches of ``batch_size`` (see the module's docstring): ``alpha · n / m``, ``m`` the
    batch the rows get (1, LogisticRegression's C=1, for ``"auto"`` above ``10·m`` rows)."""
    m = _batch_rows(n_rows, batch_size)
    return command_alpha(alpha, n_rows, batch_size) * n_rows / m


@dataclass(frozen=True)
class HiddenChoice:
    """What ``--hidden auto`` chose, and why.

    Attributes
    ----------
    hidden : tuple of int
        The chosen hidden layers (``()``: the linear model).
    losses : dict
        The mean cross-validated loss of each candidate, by :func:`describe_hidden`
        name; empty when no comparison was made.
    errors : dict
        The standard error of each mean (the folds' standard deviation over
        ``sqrt(CV_FOLDS)``).
    why : str
        Without a comparison: the reason (e.g. ``"streamed input"``).
    dropout : float
        The dropout rate the choice trains with in place of ``--dropout`` 0 (above
        :data:`AUTO_ROW_LIMIT` rows, :func:`large_table_choice`); 0: ``--dropout``'s.
    """

    hidden: tuple[int, ...]
    losses: dict[str, float]
    errors: dict[str, float] = field(default_factory=dict)
    why: str = ""
    dropout: float = 0.0

    @property
    def linear(self) -> bool:
        return self.hidden == ()

    def describe(self) -> str:
        """One line for the settings, the report and ``inspect``."""
        name = describe_hidden(self.hidden)
        if self.dropout:
            name += f" with dropout {self.dropout:g}"
        if not self.losses:
            return f"{name} (no comparison: {self.why})"
        scores = ", ".join(
            f"{k} {v:.4g} ± {self.errors[k]:.2g}" if k in self.errors else f"{k} {v:.4g}"
            for k, v in self.losses.items()
        )
        return f"{name} (mean {CV_FOLDS}-fold cross-validated loss: {scores}; the simplest within one standard error of the lowest)"


def _linear(
    make: Callable[..., Any], args: argparse.Namespace, task: str, n_rows: int, validation: bool
) -> Any:
    linear = argparse.Namespace(**{**vars(args), "hidden": (), "activation": args.activation[:1]})
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

    from deltaprop.sklearn import interrupts_raise

    with warnings.catch_warnings(), interrupts_raise():  # Ctrl-C: the command's exit 130
        warnings.simplefilter("ignore", ConvergenceWarning)  # lbfgs at max_iter: its optimum
        est.fit(X, y, **validation)


def candidate_estimator(
    choice: HiddenChoice | None,
    make: Callable[..., Any],
    args: argparse.Namespace,
    task: str,
    n_train: int,
    validation: bool,
) -> Any:
    """The estimator of the run: ``make(args, ...)`` (``make`` the command's
    ``make_estimator``) with the hidden layers and dropout of ``choice``, or the linear
    model by L-BFGS when ``choice`` chose it."""
    if choice is None:
        return make(args, task, n_train, validation)
    if choice.linear:
        return _linear(make, args, task, n_train, validation)
    dropout = choice.dropout or args.dropout
    sized = argparse.Namespace(**{**vars(args), "hidden": choice.hidden, "dropout": dropout})
    return make(sized, task, n_train, validation)


def _held_out_loss(est: Any, X: np.ndarray, y: np.ndarray, task: str) -> float:
    if task == "classification":
        from sklearn.metrics import log_loss

        return float(log_loss(y, est.predict_proba(X), labels=est.classes_))
    return float(np.mean((np.asarray(est.predict(X)).reshape(np.shape(y)) - y) ** 2))


def _procedure(
    hidden: tuple[int, ...],
    make: Callable[..., Any],
    args: argparse.Namespace,
    task: str,
    X: np.ndarray,
    y: np.ndarray,
) -> Any:
    """One candidate's procedure on ``X, y``: the linear model to convergence; the hidden
    layer stopped early on an inner validation split, as early stopping leaves it (not
    refit on all of ``X``: see the module's docstring)."""
    from deltaprop.app.fitting import train_validation_split

    if hidden == ():
        est = _linear(make, args, task, len(y), False)
        _fit(est, X, y)
        return est
    inner, check = train_validation_split(y, args.validation, task, args.seed)
    sized = argparse.Namespace(**{**vars(args), "hidden": hidden})
    est = make(sized, task, len(inner), len(check) > 0)
    validation = {"X_val": X[check], "y_val": y[check]} if len(check) else {}
    _fit(est, X[inner], y[inner], **validation)
    return est


def cross_validated_losses(
    make: Callable[..., Any],
    args: argparse.Namespace,
    task: str,
    X: np.ndarray,
    y: np.ndarray,
    candidates: tuple[tuple[int, ...], ...] = CANDIDATES,
) -> dict[str, np.ndarray]:
    """The held-out loss of each candidate's procedure on each of :data:`CV_FOLDS` folds
    of ``X, y`` (see the module's docstring): an array of shape ``(CV_FOLDS,)`` by
    :func:`describe_hidden` name.

    Parameters
    ----------
    make : callable
        The command's ``make_estimator(args, task, n_train, validation)``.
    X : ndarray of shape (n_samples, n_features)
        The preprocessed rows.
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The target as the fit sees it (standardized with ``--scale-target``).
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter: Any = (
        StratifiedKFold(CV_FOLDS, shuffle=True, random_state=args.seed)
        if task == "classification"
        else KFold(CV_FOLDS, shuffle=True, random_state=args.seed)
    )
    labels = np.asarray(y).astype(str) if task == "classification" else np.zeros(len(y))
    losses: dict[str, list[float]] = {describe_hidden(h): [] for h in candidates}
    for rest, fold in splitter.split(X, labels):
        for hidden in candidates:
            est = _procedure(hidden, make, args, task, X[rest], y[rest])
            losses[describe_hidden(hidden)].append(_held_out_loss(est, X[fold], y[fold], task))
    return {k: np.array(v) for k, v in losses.items()}


def _no_comparison(args: argparse.Namespace, task: str, y: np.ndarray) -> str:
    if len(y) > AUTO_ROW_LIMIT:
        return f"{len(y)} rows, more than {AUTO_ROW_LIMIT}"
    if not args.early_stopping or args.validation <= 0:
        return "no early stopping"
    if args.batch_norm or args.dropout > 0:
        return "--batch-norm or --dropout, which the linear model has not"
    if task == "classification":
        _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
        if counts.min() < CV_FOLDS:
            return f"a class has fewer than {CV_FOLDS} rows"
    return ""


def large_table_choice(args: argparse.Namespace, why: str) -> HiddenChoice:
    """``--hidden auto`` above :data:`AUTO_ROW_LIMIT` rows (no comparison, ``why``):
    :attr:`~deltaprop.train.CommandDefaults.large_hidden` (scikit-learn's one layer of
    100) with dropout :attr:`~deltaprop.train.CommandDefaults.large_dropout`, or
    ``--dropout``'s rate where one is given.

    Measured on digits (the quality test's table above the limit: 1,347 rows, split seeds
    0, 1, 2 by ``--seed`` 0, 1, 2): the mean held-out log-loss 0.082, 0.080, 0.071 against
    the layer of 32's 0.085, 0.082, 0.083 (docs/cli.md has the runs); without dropout
    the layer of 100 gave 0.079, 0.089, 0.074 at ``--seed 0``."""
    dropout = COMMAND_DEFAULTS.large_dropout if args.dropout == 0 else 0.0
    return HiddenChoice(COMMAND_DEFAULTS.large_hidden, {}, why=why, dropout=dropout)


def one_standard_error(folds: dict[str, np.ndarray]) -> HiddenChoice:
    """The simplest candidate (the first of :data:`CANDIDATES`) whose mean fold loss is
    within one standard error of the lowest mean (the one-standard-error rule of
    Breiman et al., *Classification and Regression Trees*, 1984; Hastie, Tibshirani and
    Friedman, *The Elements of Statistical Learning*, 7.10): a network has to beat the
    linear model by more than the folds' noise to be kept.

    Parameters
    ----------
    folds : dict
        ``{name: ndarray of shape (n_folds,)}`` from :func:`cross_validated_losses`.
    """
    means = {k: float(np.mean(v)) for k, v in folds.items()}
    errors = {k: float(np.std(v, ddof=1) / np.sqrt(len(v))) for k, v in folds.items()}
    best = min(means, key=means.__getitem__)
    bar = means[best] + errors[best]
    pick = next(h for h in CANDIDATES if means[describe_hidden(h)] <= bar)
    return HiddenChoice(pick, means, errors)


def choose_hidden(
    args: argparse.Namespace,
    task: str,
    X: np.ndarray,
    y: np.ndarray,
    make: Callable[..., Any],
    out: Output,
) -> HiddenChoice | None:
    """``--hidden auto``: the candidate of the lower cross-validated loss on ``X, y`` (all
    the run's rows, preprocessed; ``y`` as the fit sees it); ``None`` for other values.

    Without a comparison the choice is, with the reason, :func:`large_table_choice` above
    :data:`AUTO_ROW_LIMIT` rows, else (no early stopping, ``--batch-norm`` or
    ``--dropout``, a class of fewer than :data:`CV_FOLDS` rows) the hidden layer. With ``--resume`` the comparison is made
    again (the same seed and data, so the same choice): a network resumes its checkpoint,
    a linear model trains afresh.
    """
    if args.hidden != "auto":
        return None
    make(args, task, len(y), True)  # the options' errors before any fit
    why = _no_comparison(args, task, y)
    if why:
        large = len(y) > AUTO_ROW_LIMIT
        choice = (
            large_table_choice(args, why)
            if large
            else HiddenChoice(hidden_layers("auto"), {}, why=why)
        )
        out.line(f"hidden layers (--hidden auto): {choice.describe()}")
        return choice
    start = time.perf_counter()
    folds = cross_validated_losses(make, args, task, X, y)
    choice = one_standard_error(folds)
    seconds = time.perf_counter() - start
    out.line(f"hidden layers (--hidden auto): {choice.describe()}; {seconds:.1f} s")
    if choice.linear and args.resume is not None:
        out.note(
            f"--resume {args.resume}: the linear model trains to convergence in one go "
            "(L-BFGS keeps no state to resume): trained afresh"
        )
    return choice


def chosen_estimator(
    args: argparse.Namespace,
    task: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    make: Callable[..., Any],
    out: Output,
) -> tuple[HiddenChoice | None, Any]:
    """:func:`choose_hidden` on the run's rows (training then validation, preprocessed;
    the targets as the fit sees them) and :func:`candidate_estimator` of its choice, for
    the run's ``len(X_train)`` training rows."""
    X, y = np.vstack([X_train, X_val]), np.concatenate([y_train, y_val])
    choice = choose_hidden(args, task, X, y, make, out)
    return choice, candidate_estimator(choice, make, args, task, len(X_train), len(X_val) > 0)


def refit_linear(
    args: argparse.Namespace,
    run: Any,
    y_train: np.ndarray,
    y_val: np.ndarray,
    out: Output,
    make: Callable[..., Any],
) -> bool:
    """With ``--refit`` and a linear model chosen by ``--hidden auto``: train it again
    on all rows to convergence and give ``run.est`` those weights (``run`` a
    :class:`~deltaprop.app.runs.Run`, whose metrics stay those of the fit on the training
    rows; ``run.refit_epochs`` records the L-BFGS iterations).

    Returns
    -------
    bool
        True when ``run`` holds a chosen linear model (the caller's refit of a hidden
        layer is then not to be done).
    """
    choice = run.hidden_choice
    if choice is None or not choice.linear:
        return False
    if not getattr(args, "refit", False) or not len(run.val_rows):
        return True
    X_all = np.vstack([run.X_train, run.X_val])
    y_all = np.concatenate([y_train, y_val])
    again = _linear(make, args, run.task, len(y_all), False)
    start = time.perf_counter()
    _fit(again, X_all, y_all)
    run.seconds += time.perf_counter() - start
    run.est.coefs_, run.est.intercepts_ = again.coefs_, again.intercepts_
    run.refit_epochs = len(again.loss_curve_)
    how = "to convergence" if again.stop_reason_ != "epochs" else f"for --epochs {args.epochs}"
    out.note(
        f"refit the linear model on all {len(y_all)} rows {how} "
        f"({run.refit_epochs} L-BFGS iterations): the model holds those weights; the "
        "results are of its fit on the training rows (--no-refit keeps them)"
    )
    return True
