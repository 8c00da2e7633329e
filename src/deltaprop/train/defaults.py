"""The :class:`~deltaprop.train.trainer.Trainer`'s defaults, stated once.

:data:`TRAINER_DEFAULTS` holds the default of every setting of the trainer's constructor
(its signature reads them from here), for the command and the estimators to show or
reuse; :func:`named_schedule` gives a schedule named by string its settings for a run of
``epochs`` epochs.

Examples
--------
>>> TRAINER_DEFAULTS.learning_rate, TRAINER_DEFAULTS.batch_size, TRAINER_DEFAULTS.epochs
(0.001, 200, 200)
>>> named_schedule("step", 30)
StepDecay(step_size=10, gamma=0.1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deltaprop.optim import Schedule, get_schedule

__all__ = ["TRAINER_DEFAULTS", "TrainerDefaults", "named_schedule"]


@dataclass(frozen=True)
class TrainerDefaults:
    """The defaults of :class:`~deltaprop.train.trainer.Trainer` (its parameters say what
    each means).

    Attributes
    ----------
    optimizer, learning_rate, schedule, batch_size, epochs, shuffle, tol, n_iter_no_change,
    alpha, clip_norm, validation_fraction, early_stopping, monitor, verbose
        The defaults of the constructor's parameters of those names.
    early_stopping_fraction : float
        The ``validation_fraction`` that ``early_stopping`` holds out when neither a
        fraction nor ``validation_data`` is given (scikit-learn's 0.1).
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    batch_size: int | None = 200
    epochs: int = 200
    shuffle: bool = True
    tol: float = 1e-4
    n_iter_no_change: int = 10
    alpha: float = 0.0
    clip_norm: float | None = None
    validation_fraction: float | None = None
    early_stopping: bool = False
    monitor: str = "val_loss"
    verbose: bool = False
    early_stopping_fraction: float = 0.1


TRAINER_DEFAULTS = TrainerDefaults()
"""The trainer's defaults; ``dataclasses.asdict(TRAINER_DEFAULTS)`` for a plain dict."""

# Settings for schedules named by string: over one fit of ``epochs`` epochs, step decay
# divides by 10 twice, exponential decay ends near 1% of the rate, cosine reaches 0.
_SCHEDULE_SETTINGS: dict[str, Callable[[int], dict[str, Any]]] = {
    "step": lambda epochs: {"step_size": max(1, epochs // 3)},
    "exponential": lambda epochs: {"gamma": 0.01 ** (1.0 / max(epochs, 1))},
    "cosine": lambda epochs: {"t_max": max(epochs, 1)},
}


def named_schedule(schedule: str | Schedule, epochs: int) -> Schedule:
    """The schedule ``schedule`` names, set for a run of ``epochs`` epochs.

    ``"step"`` divides the rate by 10 every ``max(1, epochs // 3)`` epochs,
    ``"exponential"`` decays it to 1% over ``epochs``, ``"cosine"`` anneals it to 0 over
    ``epochs``; any other name (``"constant"``, ``"invscaling"``, ``"plateau"``) or a
    :class:`~deltaprop.optim.Schedule` instance goes to
    :func:`~deltaprop.optim.get_schedule` as is.

    Parameters
    ----------
    schedule : str or Schedule
    epochs : int
        The epochs of one fit (``Trainer``'s ``epochs``, an estimator's ``max_iter``).

    Returns
    -------
    Schedule
    """
    if isinstance(schedule, str) and schedule in _SCHEDULE_SETTINGS:
        return get_schedule(schedule, **_SCHEDULE_SETTINGS[schedule](epochs))
    return get_schedule(schedule)
