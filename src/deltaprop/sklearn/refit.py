"""A fit that continues a fitted estimator (``warm_start=True``, ``partial_fit``) re-reads
its parameters, as scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` do.

scikit-learn reads every parameter again on each call and, on every ``fit``, builds a fresh
optimizer (``if not incremental or not hasattr(self, "_optimizer")``); what carries over is
the weights and the counters (``n_iter_`` and ``t_`` go on, ``loss_curve_`` grows, the count
of epochs without improvement and the best loss so far stay). ``partial_fit`` keeps the
optimizer, its moments and its learning rate (``learning_rate_init``, ``solver``,
``momentum``, the schedule of the first call stay) and reads the rest (``alpha``, ``tol``,
``n_iter_no_change``, ``batch_size``, ``shuffle``, ``verbose``, ``callbacks``) on every call.

One departure: switching ``early_stopping`` on for a warm-started ``fit`` after a fit
without it works here (the validation rows are held out from then on and the best-so-far
restarts on the new metric); scikit-learn fails with an ``AttributeError`` there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from deltaprop.optim import LBFGS
from deltaprop.train import Trainer

if TYPE_CHECKING:
    from deltaprop.sklearn.training import TrainingParts

__all__ = ["continued_trainer"]

_CARRIED = (
    "history", "epoch", "samples_seen", "best_metric", "best_metric_epoch", "no_improvement",
    "best_parameters", "best_buffers", "best_epoch", "rng", "split_seed", "divergence_factor",
)  # fmt: skip
"""What a continued fit takes over from the previous trainer: counters, curves and the
generator (shuffling goes on as in one long run). The divergence policy's baselines are
taken over by a ``partial_fit`` under the same ``alpha`` only: a warm ``fit``, or another
``alpha``, measures them afresh from the present weights (their L2 term included, so that
a stronger ``alpha`` on weights trained without it is not taken for a divergence)."""


def continued_trainer(
    est: TrainingParts, old: Trainer, n_samples: int, incremental: bool
) -> Trainer:
    """A trainer built from the estimator's current parameters that goes on from ``old``.

    Parameters
    ----------
    est : TrainingParts
        The estimator (its ``_make_trainer`` reads the parameters).
    old : Trainer
        The previous fit's trainer; its network is the one trained on.
    n_samples : int
        Rows of this call's training data.
    incremental : bool
        ``partial_fit``: the optimizer and the schedule of ``old`` are kept.

    Returns
    -------
    Trainer
    """
    new = est._make_trainer(old.net, n_samples, incremental, old.communicator)
    for name in _CARRIED:
        setattr(new, name, getattr(old, name))
    if incremental and new.alpha == old.alpha:
        new.baselines = old.baselines
    if incremental and not isinstance(old.optimizer, LBFGS):  # scikit-learn keeps its
        # _optimizer between partial_fit calls (an lbfgs fit leaves none: a fresh one then)
        new.optimizer, new.schedule, new.learning_rate = (
            old.optimizer, old.schedule, old.learning_rate,
        )  # fmt: skip
    if (new.early_stopping, new.monitor) != (old.early_stopping, old.monitor):
        new.best_metric, new.best_metric_epoch, new.no_improvement = math.inf, None, 0
        new.best_parameters = new.best_buffers = new.best_epoch = None
    return new
