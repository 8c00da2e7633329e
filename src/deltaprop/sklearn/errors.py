"""The estimators' own exceptions and warnings (re-exported by :mod:`deltaprop.sklearn`)."""

from __future__ import annotations

from typing import Any

from sklearn.exceptions import ConvergenceWarning

__all__ = ["DivergenceWarning", "NothingLeftToTrainError"]


class DivergenceWarning(ConvergenceWarning):
    """Training diverged; with early stopping the best weights were restored."""


class NothingLeftToTrainError(ValueError):
    """``fit(resume_from=path)`` with a checkpoint that already reached ``max_iter`` epochs.

    Attributes
    ----------
    parameter : str
        The parameter to raise to go on (``"max_iter"``).
    path : str
        The checkpoint.
    epoch : int
        The epochs the checkpoint has done.
    limit : int
        The parameter's value: the epoch at which the run is to end.
    """

    def __init__(self, path: Any, epoch: int, limit: int, parameter: str = "max_iter") -> None:
        super().__init__(
            f"the checkpoint '{path}' is at epoch {epoch}, and the run is to end at epoch "
            f"{limit}: nothing left to train; raise {parameter} to go on"
        )
        self.parameter = parameter
        self.path = str(path)
        self.epoch = epoch
        self.limit = limit
