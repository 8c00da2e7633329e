"""Reduce the learning rate when the monitored metric stops improving.

:class:`ReduceOnPlateau` watches a metric (lower is better) that the trainer reports after
every epoch through :meth:`~deltaprop.optim.schedule.Schedule.on_epoch_end`; it
reproduces scikit-learn's ``learning_rate="adaptive"`` (``style="sklearn"``, the default)
or ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (``style="torch"``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar, Literal

import numpy as np

from deltaprop.core import check_int, check_real
from deltaprop.optim.schedule import Schedule

__all__ = ["ReduceOnPlateau"]


class ReduceOnPlateau(Schedule):
    """Reduce the learning rate when the monitored metric stops improving.

    Driven by :meth:`on_epoch_end` with the epoch's metric (training or validation loss,
    lower is better), called after every epoch; the call for the next epoch returns the
    reduced rate. An epoch is *bad* if ``metric > best - tol`` (``threshold_mode="abs"``)
    or ``metric > best * (1 - tol)`` (``"rel"``). When more than ``patience`` consecutive
    epochs are bad, the rate is reduced and the count restarts at 0.

    ``style="sklearn"`` reproduces scikit-learn's ``learning_rate="adaptive"``
    (``_update_no_improvement_count`` and ``SGDOptimizer.trigger_stopping``):

    - ``best`` becomes ``metric`` whenever ``metric < best`` (by any amount);
    - a reduction divides the rate by ``1 / factor`` (``lr /= 5`` for ``factor=0.2``),
      with no floor; but if the rate in use is already ``<= min_lr``, the schedule sets
      :attr:`should_stop` instead.

    scikit-learn's defaults are ``factor=0.2, patience=n_iter_no_change=10, tol=1e-4,
    min_lr=1e-6`` (so the rate is divided by 5 after 11 consecutive epochs without an
    improvement of ``tol``). With ``early_stopping``, scikit-learn monitors the validation
    score (higher is better): pass its negative.

    ``style="torch"`` reproduces ``torch.optim.lr_scheduler.ReduceLROnPlateau``
    (``mode="min"``; note torch's default ``threshold_mode`` is ``"rel"``):

    - ``best`` is updated (and the count reset) only on an improvement beyond ``tol``;
    - a reduction sets ``lr = max(lr * factor, min_lr)`` (skipped if it would change the
      rate by at most ``1e-8``), followed by ``cooldown`` epochs whose bad epochs are not
      counted; :attr:`should_stop` stays ``False``.

    Parameters
    ----------
    factor : float, default=0.2
        Reduction factor, in (0, 1).
    patience : int, default=10
        Number of bad epochs tolerated before a reduction, non-negative.
    tol : float, default=1e-4
        Minimum improvement (absolute or relative, see ``threshold_mode``), non-negative.
    min_lr : float, default=1e-6
        ``"sklearn"``: stop instead of reducing once the rate is at or below it.
        ``"torch"``: lower bound of the rate. Non-negative.
    style : {"sklearn", "torch"}, default="sklearn"
    threshold_mode : {"abs", "rel"}, default="abs"
    cooldown : int, default=0
        Epochs after a reduction during which bad epochs are not counted (torch's
        ``cooldown``; applies to both styles), non-negative.

    Attributes
    ----------
    best : float
        Best metric so far (``inf`` before the first report).
    num_bad_epochs : int
        Current count of consecutive bad epochs.
    num_reductions : int
        Number of reductions so far (the rate is ``lr0`` reduced that many times).
    cooldown_counter : int
        Remaining cooldown epochs.
    last_learning_rate : float
        Rate returned by the last call (``nan`` before the first); ``"sklearn"`` compares
        it with ``min_lr``, so call the schedule at the start of every epoch.

    Notes
    -----
    The rate is recomputed from ``lr0`` by replaying the ``num_reductions`` reductions, so
    it follows a change of ``learning_rate_init`` and needs no separate state.
    """

    name: ClassVar[str] = "plateau"
    _hyperparams: ClassVar[tuple[str, ...]] = ("factor", "patience", "tol", "min_lr", "cooldown")
    _state_vars: ClassVar[tuple[str, ...]] = (
        "best",
        "num_bad_epochs",
        "num_reductions",
        "cooldown_counter",
        "last_learning_rate",
        "stop_requested",
    )
    _TORCH_EPS: ClassVar[float] = 1e-8

    def __init__(
        self,
        factor: float = 0.2,
        patience: int = 10,
        tol: float = 1e-4,
        min_lr: float = 1e-6,
        style: Literal["sklearn", "torch"] = "sklearn",
        threshold_mode: Literal["abs", "rel"] = "abs",
        cooldown: int = 0,
    ) -> None:
        self.factor = check_real(
            "factor",
            factor,
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
            what="a float in (0, 1)",
        )
        self.patience = check_int("patience", patience, low=0, what="a non-negative int")
        self.tol = check_real("tol", tol, low=0.0, what="a non-negative float")
        self.min_lr = check_real("min_lr", min_lr, low=0.0, what="a non-negative float")
        if style not in ("sklearn", "torch"):
            raise ValueError(f"style must be 'sklearn' or 'torch'. Received: style={style!r}")
        self.style: Literal["sklearn", "torch"] = style
        if threshold_mode not in ("abs", "rel"):
            raise ValueError(
                "threshold_mode must be 'abs' or 'rel'. "
                f"Received: threshold_mode={threshold_mode!r}"
            )
        self.threshold_mode: Literal["abs", "rel"] = threshold_mode
        self.cooldown = check_int("cooldown", cooldown, low=0, what="a non-negative int")
        self.reset()

    def reset(self) -> None:
        """Forget the metric history and the reductions."""
        self.best: float = math.inf
        self.num_bad_epochs: int = 0
        self.num_reductions: int = 0
        self.cooldown_counter: int = 0
        self.last_learning_rate: float = math.nan
        self.stop_requested: bool = False

    @property
    def should_stop(self) -> bool:
        """``True`` once a reduction was due while the rate was already ``<= min_lr``."""
        return self.stop_requested

    def _reduce(self, lr: float) -> float:
        if self.style == "sklearn":
            return lr / (1.0 / self.factor)
        new_lr = max(lr * self.factor, self.min_lr)
        return new_lr if lr - new_lr > self._TORCH_EPS else lr

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        lr = lr0
        for _ in range(self.num_reductions):
            lr = self._reduce(lr)
        self.last_learning_rate = lr
        return lr

    def _improved(self, metric: float) -> bool:
        if self.threshold_mode == "rel":
            return metric < self.best * (1.0 - self.tol)
        return metric < self.best - self.tol

    def on_epoch_end(self, metric: float) -> None:
        """Report the epoch's metric (lower is better) and maybe schedule a reduction.

        Parameters
        ----------
        metric : float
            Training or validation loss of the epoch that just ended.
        """
        current = float(metric)
        if self.style == "sklearn":
            if self._improved(current):
                self.num_bad_epochs = 0
            else:
                self.num_bad_epochs += 1
            if current < self.best:
                self.best = current
        elif self._improved(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            if self.style == "sklearn" and self.last_learning_rate <= self.min_lr:
                self.stop_requested = True
                return
            self.num_reductions += 1
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _rebuild(self, hyper: dict[str, Any]) -> Schedule:
        return ReduceOnPlateau(style=self.style, threshold_mode=self.threshold_mode, **hyper)

    def _load_state(self, state: dict[str, Any]) -> None:
        best = state["best"]
        if not isinstance(best, numbers.Real) or isinstance(best, bool) or math.isnan(best):
            raise ValueError(f"best must be a float or inf. Received: best={best!r}")
        last = state["last_learning_rate"]
        if not isinstance(last, numbers.Real) or isinstance(last, bool):
            raise ValueError(
                f"last_learning_rate must be a float. Received: last_learning_rate={last!r}"
            )
        stop = state["stop_requested"]
        if not isinstance(stop, bool | np.bool_):
            raise ValueError(f"stop_requested must be a bool. Received: stop_requested={stop!r}")
        self.best = float(best)
        self.num_bad_epochs = check_int(
            "num_bad_epochs", state["num_bad_epochs"], low=0, what="a non-negative int"
        )
        self.num_reductions = check_int(
            "num_reductions", state["num_reductions"], low=0, what="a non-negative int"
        )
        self.cooldown_counter = check_int(
            "cooldown_counter", state["cooldown_counter"], low=0, what="a non-negative int"
        )
        self.last_learning_rate = float(last)
        self.stop_requested = bool(stop)

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau(factor={self.factor!r}, patience={self.patience}, "
            f"tol={self.tol!r}, min_lr={self.min_lr!r}, style={self.style!r}, "
            f"threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown})"
        )
