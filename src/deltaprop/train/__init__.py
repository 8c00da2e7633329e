"""The Trainer: epochs, mini-batches, validation, early stopping; callbacks, History, progress."""

from deltaprop.train.trainer import (
    Callback,
    Communicator,
    DivergenceError,
    History,
    ProgressBar,
    Trainer,
    gradient_descent,
)

__all__ = [
    "Callback",
    "Communicator",
    "DivergenceError",
    "History",
    "ProgressBar",
    "Trainer",
    "gradient_descent",
]
