"""The :class:`~deltaprop.train.trainer.Trainer`'s defaults, stated once.

:data:`TRAINER_DEFAULTS` holds the default of every setting of the trainer's constructor
(its signature reads them from here), for the command and the estimators to show or
reuse. A schedule named by string gets its settings for a run of ``epochs`` epochs from
:func:`deltaprop.optim.schedule_for_epochs`, their one home.

Examples
--------
>>> TRAINER_DEFAULTS.learning_rate, TRAINER_DEFAULTS.batch_size, TRAINER_DEFAULTS.epochs
(0.001, 200, 200)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TRAINER_DEFAULTS", "TrainerDefaults"]


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
