"""Why a training run stopped (:class:`StopRecord`), and when a loss counts as diverged.

Every :meth:`~deltaprop.train.trainer.Trainer.fit` ends with one :class:`StopRecord` in
``history.stop``: its :attr:`~StopRecord.reason` is one of :data:`STOP_REASONS` and its
:attr:`~StopRecord.message` one exact sentence with the epoch and the counts.

The divergence policy
---------------------
A run has diverged when an epoch's training loss is NaN or infinite (or a weight is), or
when it exceeds :data:`DIVERGENCE_FACTOR` (100) times the larger of two baselines: the
loss of the weights the fit started from, and the loss of a constant predictor (the
weighted mean of the targets: the class frequencies for a classifier). An ordinary fit
stays below both; a learning rate too large for the data overshoots them by orders of
magnitude within a few epochs. The trainer then puts back the weights of the last epoch
that was not diverged, records ``"diverged"`` and raises
:class:`~deltaprop.train.errors.DivergenceError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.fast import blas_threads

__all__ = [
    "DIVERGENCE_FACTOR", "STOP_REASONS", "StopRecord", "baseline_rows", "l2_at_start",
    "loss_baselines",
]  # fmt: skip

STOP_REASONS = (
    "epochs", "no_improvement", "early_stopping", "converged", "solver", "diverged",
    "interrupted", "callback", "ended",
)  # fmt: skip
"""What :attr:`StopRecord.reason` can be:

``"epochs"``
    the fit trained all its ``epochs``;
``"no_improvement"``
    the training loss did not improve by ``tol`` for more than ``n_iter_no_change``
    consecutive epochs (or the ``"plateau"`` schedule could lower the rate no further);
``"early_stopping"``
    the same on the validation metric, the best weights restored;
``"converged"``
    L-BFGS met its own convergence test (:attr:`StopRecord.detail` ``"gtol"``: the
    projected gradient fell to ``tol``; ``"ftol"``: the relative reduction of the loss
    fell to SciPy's ``ftol``) after :attr:`StopRecord.count` iterations;
``"solver"``
    L-BFGS ended otherwise before converging (its limit of loss evaluations, or a line
    search that found no lower loss): :attr:`StopRecord.detail` is SciPy's message;
``"diverged"``
    the loss diverged (see the module's policy) and ``DivergenceError`` was raised;
``"interrupted"``
    ``KeyboardInterrupt`` during the fit (re-raised);
``"callback"``
    a callback set ``trainer.stop_training``;
``"ended"``
    :func:`~deltaprop.train.checkpoint.resume` found the run of its checkpoint already
    ended, and the checkpoint (written before checkpoints kept their stop record) does not
    say why. Where it does, the resumed record keeps the run's own reason, with
    :attr:`StopRecord.already_ended` set.
"""

DIVERGENCE_FACTOR = 100.0
"""How many times its baselines an epoch's loss may reach before the run counts as diverged."""

_DEFAULT_NAMES = {"epochs": "epochs", "tol": "tol", "n_iter_no_change": "n_iter_no_change"}


@dataclass(frozen=True)
class StopRecord:
    """Why and where a fit stopped.

    Attributes
    ----------
    reason : str
        One of :data:`STOP_REASONS`.
    epoch : int
        The epoch (1-based, counted over all fits) after which the run stopped; for
        ``"diverged"`` and ``"interrupted"``, the epoch that did not complete.
    monitor : str
        What the stopping rule watched: ``"training loss"``, ``"validation loss"`` or
        ``"validation score"``.
    count : int or None
        Consecutive epochs without an improvement by ``tol`` (``"no_improvement"``,
        ``"early_stopping"``).
    patience, tol : int or float or None
        The ``n_iter_no_change`` and ``tol`` in force.
    best : float or None
        The best value of the monitored quantity (a score as itself, higher is better).
    best_at : int or None
        The epoch (1-based) that reached ``best``.
    best_epoch : int or None
        The epoch (1-based) whose weights the network holds after the fit when they are not
        the last epoch's (restored by early stopping, or kept at a divergence).
    limit, start : int or None
        ``"epochs"``: the fit's ``epochs``, and the epoch it started after.
    detail : str
        ``"converged"``: ``"gtol"`` or ``"ftol"``; ``"solver"``: SciPy's message;
        ``"callback"``: the callback's class; ``"diverged"``: the error's message;
        ``"no_improvement"`` by the plateau schedule: ``"plateau"``.
    already_ended : bool
        Set by :func:`~deltaprop.train.checkpoint.resume` when the checkpoint's run had
        ended before (it trained nothing); the message says so first.

    Examples
    --------
    >>> StopRecord("epochs", 200, limit=200, start=0).message
    'stopped at epoch 200: reached the epoch limit (epochs=200)'
    """

    reason: str
    epoch: int
    monitor: str = "training loss"
    count: int | None = None
    patience: int | None = None
    tol: float | None = None
    best: float | None = None
    best_at: int | None = None
    best_epoch: int | None = None
    limit: int | None = None
    start: int | None = None
    detail: str = ""
    already_ended: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-able values (a checkpoint keeps them)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StopRecord:
        """Inverse of :meth:`as_dict`; ``ValueError`` for an unknown reason or field, or an
        epoch that is not a count."""
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(d, Mapping) or set(d) - fields or d.get("reason") not in STOP_REASONS:
            raise ValueError(f"not a stop record: {d!r}"[:300])
        epoch = d.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"a stop record's epoch must be a count. Received: {epoch!r}")
        return cls(**d)

    @property
    def message(self) -> str:
        """:meth:`describe` with the trainer's parameter names."""
        return self.describe()

    def describe(self, names: Mapping[str, str] | None = None) -> str:
        """The sentence, naming the settings as ``names`` says (keys ``"epochs"``, ``"tol"``,
        ``"n_iter_no_change"``; the command passes ``"--epochs"``, ``"--patience"``, and
        ``"epochs_total"``: the name of a limit that counts a resumed run's earlier epochs).

        >>> StopRecord("callback", 13, detail="StopAt13", already_ended=True).message
        'nothing resumed: the run in the checkpoint had already ended; stopped at epoch 13: a callback (StopAt13) set stop_training'
        """
        text = self._sentence({**_DEFAULT_NAMES, **(names or {})})
        if self.already_ended:
            return "nothing resumed: the run in the checkpoint had already ended; " + text
        return text

    def _sentence(self, n: dict[str, str]) -> str:
        head = f"stopped at epoch {self.epoch}: "
        if self.reason == "epochs":
            if not self.start:
                text = head + f"reached the epoch limit ({n['epochs']}={self.limit})"
            else:  # the setting counts this fit's epochs, or (``epochs_total``) all of them
                total = f"{n['epochs_total']}={self.epoch}: " if "epochs_total" in n else ""
                text = head + (
                    f"reached the epoch limit ({total}{self.limit} epochs in this fit, after "
                    f"epoch {self.start})"
                )
            if self.best_epoch is not None and self.best is not None:
                text += (
                    f"; the best {self.monitor} was {self.best:.6g} at epoch {self.best_at}, "
                    f"whose weights were kept"
                )
            return text
        if self.reason == "converged":
            test = (
                f"the projected gradient fell below {n['tol']}={self.tol:g}"
                if self.detail == "gtol"
                else "the relative reduction of the loss fell below SciPy's ftol"
            )
            return head + f"L-BFGS converged after {self.count} iterations ({test})"
        if self.reason == "solver":
            return head + (
                f"L-BFGS ended after {self.count} iterations before converging ({self.detail})"
            )
        if self.reason == "callback":
            return head + f"a callback ({self.detail}) set stop_training"
        if self.reason == "interrupted":
            done = self.epoch - 1
            return (
                f"interrupted in epoch {self.epoch} (Ctrl-C) after {done} complete "
                f"epoch{'' if done == 1 else 's'}"
            )
        if self.reason == "diverged":
            return self.detail
        if self.reason == "ended":
            return (
                f"stopped at epoch {self.epoch} (why is not recorded: the checkpoint was "
                "written before checkpoints kept their stop record)"
            )
        best = (
            f"its best was {self.best:.6g} at epoch {self.best_at}"
            if self.best_at is not None and self.best is not None and math.isfinite(self.best)
            else "it never had a finite value"
        )
        if self.detail == "plateau":
            return head + (
                f"the {self.monitor} stopped improving with the learning rate already at the "
                f"plateau schedule's minimum; {best}"
            )
        text = head + (
            f"the {self.monitor} did not improve by {n['tol']}={self.tol:g} for {self.count} "
            f"consecutive epochs (more than {n['n_iter_no_change']}={self.patience}); {best}"
        )
        if self.reason == "early_stopping" and self.best_epoch is not None:
            text += f"; the weights of epoch {self.best_epoch} were restored"
        return text


BASELINE_ROWS = 512
"""Rows on which the network's starting loss is measured (evenly spaced over the training
rows; all of them, in one pass, when fewer): the policy's factor dwarfs a sample's error.
A pass over every row cost a fit of 784-256-128-10 on 12,800 rows as much as a sixth of an
epoch; 2,048 rows in four passes were still 1.6 ms of a fresh digits estimator's 8.8 ms
one-epoch fit (1,400 rows, 64-100-10), a cost every fit pays: 512 rows take one pass there."""

GATHER_BYTES = 1 << 17
"""The most bytes of ``X`` gathered at a time for the starting loss (128 KiB: one pass of
:data:`BASELINE_ROWS` rows of up to 64 float32 features), so that a fit holds no sizeable
copy of its training data."""


def baseline_rows(m: int) -> np.ndarray:
    """Which of ``m`` rows the starting loss is measured on: :data:`BASELINE_ROWS` evenly
    spaced ones (ascending), all of them when fewer, shape ``(min(m, BASELINE_ROWS),)``."""
    if m <= BASELINE_ROWS:
        return np.arange(m)
    return np.unique(np.linspace(0, m - 1, BASELINE_ROWS).round().astype(np.intp))


def loss_baselines(
    net: Any, X: Any, Y: np.ndarray, w: np.ndarray | None, alpha: float = 0.0, m: int = 1
) -> tuple[float, float]:  # fmt: skip
    """The two losses the divergence policy compares with: the network's as it is now (on
    :data:`BASELINE_ROWS` evenly spaced rows), and a constant predictor's (the weighted
    mean of ``Y``, shape ``(n_L,)``, for every row; on every row).

    Both are the data loss (the constant's in chunks of 65,536 values), computed with BLAS
    on one thread: a BLAS thread pool woken here would go on spinning beside the compiled loop's own threads
    and slow its first epochs several times over. The network's adds the L2 term that
    batches of ``m`` rows add at its present weights, ``alpha/(2m)·Σ‖W‖²``, as the epoch's
    objective does: a strong L2 on weights trained without it (a warm start) makes a large
    first objective that falls, not a divergence.
    """
    with blas_threads(1):
        start, constant = _loss_baselines(net, X, Y, w)
    return start + l2_at_start(net, alpha, m), constant


def l2_at_start(net: Any, alpha: float, m: int) -> float:
    """``alpha/(2m)·Σ‖W‖²``: the L2 term of a batch of ``m`` rows at ``net``'s present
    weights (the part of the first objective that :func:`loss_baselines` counts in)."""
    if not alpha:
        return 0.0
    return alpha / (2 * max(m, 1)) * sum(float(np.vdot(W, W)) for W in net.weights)


def _loss_baselines(net: Any, X: Any, Y: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    m = X.shape[0]
    wsum = float(m if w is None else w.sum())
    mean = np.asarray((Y if w is None else Y * w[:, None]).sum(axis=0) / wsum, dtype=Y.dtype)
    constant = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        step = max(512, 65_536 // max(Y.shape[1], 1))  # 65,536 values at a time
        for lo in range(0, m, step):
            sl = slice(lo, min(lo + step, m))
            values = np.asarray(net.loss.value(Y[sl], np.broadcast_to(mean, Y[sl].shape)))
            constant += float(values.sum() if w is None else values @ w[sl])
        if m > BASELINE_ROWS:  # gathered in pieces of at most GATHER_BYTES: a small copy
            rows = baseline_rows(m)
            row_bytes = X.dtype.itemsize * max(X.shape[1], 1)
            size = min(max(GATHER_BYTES // row_bytes, 16), BASELINE_ROWS)  # rows per piece
            pieces: list[Any] = [rows[lo : lo + size] for lo in range(0, rows.size, size)]
        else:  # one view
            pieces = [slice(0, m)]
        start = share_sum = 0.0
        for idx in pieces:
            Yb, wb = Y[idx], (None if w is None else w[idx])
            share = float(len(Yb) if wb is None else wb.sum())
            if share <= 0:
                continue
            start += net.cost(X[idx], Yb, wb, training=False, check=False) * share
            share_sum += share
    return (start / share_sum if share_sum > 0 else 0.0), constant / wsum


def exploded(loss: float, baselines: tuple[float, float] | None, factor: float | None) -> bool:
    """Whether ``loss`` is more than ``factor`` times the larger baseline (the policy above)."""
    if baselines is None or factor is None:
        return False
    base = max(b for b in baselines if math.isfinite(b)) if any(
        math.isfinite(b) for b in baselines) else math.inf  # fmt: skip
    return base > 0 and loss > factor * base
