"""The estimators' own exceptions and warnings (re-exported by :mod:`deltaprop.sklearn`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sklearn.exceptions import ConvergenceWarning

from deltaprop.sklearn.tabular import is_text

__all__ = ["DivergenceWarning", "NothingLeftToTrainError", "naming_text_columns"]


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


@contextlib.contextmanager
def naming_text_columns(X: Any, estimator: str) -> Iterator[None]:
    """scikit-learn's ``could not convert string to float: 'Biscoe'`` for a DataFrame with
    text columns, with the columns named and the pipeline that encodes them."""
    try:
        yield
    except ValueError as exc:
        dtypes = getattr(X, "dtypes", None)
        if "could not convert string" not in str(exc) or dtypes is None:
            raise
        text = [str(c) for c, dtype in dtypes.items() if is_text(dtype)]
        if not text:
            raise
        shown = ", ".join(map(repr, text[:8])) + (f", ... ({len(text)})" if len(text) > 8 else "")
        raise ValueError(
            f"{exc} (X has text columns: {shown}; encode them first, e.g. "
            f"make_pipeline(deltaprop.sklearn.TablePreprocessor(), {estimator}()), which "
            "imputes, scales and one-hot encodes a table)"
        ) from exc
