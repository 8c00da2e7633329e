"""Preprocessing of a table's features and of a regression target, stored without pickle.

:class:`Preprocessor` fits scikit-learn's ``ColumnTransformer``: numeric columns go through
``SimpleImputer(strategy="median")`` and ``StandardScaler``, categorical ones through
``SimpleImputer(strategy="constant", fill_value="(missing)")`` and
``OneHotEncoder(handle_unknown="ignore")``. Its fitted state (medians, means, scales,
categories) is exported as a JSON configuration and float64 arrays
(:meth:`Preprocessor.get_state`), which :func:`deltaprop.io.save` stores in the
model file's extra section (``save(est, path, extra=state)``); no pickle is involved. A
preprocessor rebuilt from that state (:meth:`Preprocessor.from_state`) applies the same
arithmetic directly in NumPy (:func:`deltaprop.sklearn.tabular.encode`) and gives
bit-identical outputs. The state's format, its checks and the arithmetic belong to
:class:`deltaprop.sklearn.tabular.TablePreprocessor`, the scikit-learn transformer that
:func:`deltaprop.load` puts in front of the estimator; this class adds the command's
messages (file rows, ``--na-values`` hints).

Regression targets are standardized by default (``y' = (y - mean) / scale``); the model
file stores the two numbers, and :func:`~deltaprop.app.fitting.predict_table` maps the
predictions back. The estimator inside such a model file therefore predicts standardized
values; :func:`deltaprop.load` returns it inside a scikit-learn ``Pipeline`` whose
``TransformedTargetRegressor`` answers in the target's units
(:mod:`deltaprop.sklearn.pipeline`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deltaprop.app.columns import is_numeric
from deltaprop.app.errors import DataError, shown
from deltaprop.sklearn.tabular import (
    MISSING_CATEGORY,
    PREPROCESSING_FORMAT,
    TablePreprocessor,
    category_strings,
    column_transformer,
    detect_columns,
    encode,
)
from deltaprop.sklearn.tabular_state import check_state, check_target_scaling, state_of

__all__ = [
    "MISSING_CATEGORY",
    "PREPROCESSING_FORMAT",
    "Preprocessor",
    "TargetScaler",
    "file_row",
    "power_of_two_unit",
]


def power_of_two_unit(largest: float) -> float:
    """The power of two at or above ``largest`` (at most ``2**1023``; 1 for 0, NaN or
    infinity): sums of squares of values divided by it cannot overflow (values near 1e308)
    or underflow (near 1e-308), and the division, a power of two, leaves their bits as they
    were.

    >>> power_of_two_unit(3.0), power_of_two_unit(0.0), power_of_two_unit(1e308) == 2.0**1023
    (4.0, 1.0, True)
    """
    if not 0 < largest < math.inf:
        return 1.0
    return math.ldexp(1.0, min(math.frexp(largest)[1], 1023))


def file_row(index: pd.Index, position: int) -> int:
    """The row number (1 = the first data row) that the file gives the row at ``position``.

    The command's tables keep the file's row labels (0, 1, ...) through the rows it leaves
    out (missing targets, the validation split), so messages name rows as the file does.
    """
    label = index[position]
    return int(label) + 1 if isinstance(label, int | np.integer) else int(position) + 1


def _as_float(s: pd.Series, name: str, source: Any = None) -> np.ndarray:
    """A numeric column as float64; text that is not a number is an error naming the
    column, the file ``source`` (if given), the row (and its line in a CSV file), the value
    and how to go on (the words of the training run's
    :func:`~deltaprop.app.errors.not_a_number`)."""
    if is_numeric(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.to_numeric(s.astype(str).str.strip().where(s.notna()), errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & s.notna().to_numpy())
    if bad.size:
        from deltaprop.app.tables import is_csv, number_format_hint

        row = file_row(s.index, int(bad[0]))
        where = f"row {row}" + (f" (line {row + 1})" if source and is_csv(source) else "")
        value = str(s.iloc[bad[0]])
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        of = f" of '{source}'" if source else ""
        hint = number_format_hint(s[s.notna()])
        raise DataError(
            f"column {name!r}{of} must hold numbers (as when the model was trained), but "
            f"{where} has {shown(value)}{more}, which is not a number; "
            + (f"{hint}" if hint else "fix it or mark it missing with --na-values")
            + (f" {value!r}" if not hint and len(value) <= 60 else "")
        )
    return np.asarray(values, dtype=np.float64)


@dataclass
class Preprocessor:
    """Standardize numbers, one-hot encode categories, impute missing values.

    Parameters
    ----------
    numeric : list of str
        Numeric columns, imputed with the median, then standardized.
    categorical : list of str
        Categorical columns, imputed with the category ``"(missing)"``, then one-hot
        encoded; unknown categories at prediction time encode as all zeros.

    Attributes
    ----------
    median, mean, scale : ndarray of shape (len(numeric),)
        Fitted: medians, means after imputation, and scales (1 for constant columns).
    categories : list of list of str
        Fitted: the categories of each categorical column, sorted.
    column_transformer : sklearn.compose.ColumnTransformer or None
        The fitted scikit-learn transformer after :meth:`fit_transform` (not saved; a
        preprocessor rebuilt by :meth:`from_state` has none). It transforms
        :meth:`prepare` output exactly as :meth:`transform` transforms the frame.
    """

    numeric: list[str]
    categorical: list[str]
    median: np.ndarray = field(default_factory=lambda: np.empty(0))
    mean: np.ndarray = field(default_factory=lambda: np.empty(0))
    scale: np.ndarray = field(default_factory=lambda: np.empty(0))
    categories: list[list[str]] = field(default_factory=list)
    fitted: bool = False
    column_transformer: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def for_frame(cls, frame: pd.DataFrame, categorical: Sequence[str] = ()) -> Preprocessor:
        """The preprocessor of the columns :func:`~deltaprop.sklearn.tabular.detect_columns`
        finds (``categorical`` named by ``--categorical``)."""
        return cls(*detect_columns(frame, categorical))

    @property
    def columns(self) -> list[str]:
        """The input columns, in the order of the output features."""
        return [*self.numeric, *self.categorical]

    @property
    def feature_names(self) -> list[str]:
        """Output feature names: numeric columns, then ``column=category``."""
        names = list(self.numeric)
        for col, cats in zip(self.categorical, self.categories, strict=True):
            names.extend(f"{col}={c}" for c in cats)
        return names

    def prepare(self, frame: pd.DataFrame, source: Any = None) -> pd.DataFrame:
        """The input columns as the transformers see them: float64 numbers, string
        categories, NaN where missing. ``source`` names the file in messages.

        Raises
        ------
        DataError
            If a column is missing, or a numeric column holds text or infinity.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:5])
            raise DataError(
                f"the data lack the column{'s' if len(missing) > 1 else ''} {shown} that the "
                "model was trained on"
            )
        data = {c: _as_float(frame[c], c, source) for c in self.numeric}
        for c in self.numeric:
            if np.isinf(data[c]).any():
                row = file_row(frame.index, int(np.flatnonzero(np.isinf(data[c]))[0]))
                raise DataError(f"column {c!r} holds an infinite value (row {row})")
        data.update({c: category_strings(frame[c]) for c in self.categorical})
        return pd.DataFrame(data, columns=self.columns, index=frame.index)

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Fit scikit-learn's transformers on ``frame``; return the features (float64).

        Returns
        -------
        ndarray of shape (n_rows, n_features)
        """
        ct = column_transformer(self.numeric, self.categorical)
        inputs = self.prepare(frame)
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, by column and row
            out = np.asarray(ct.fit_transform(inputs), dtype=np.float64)
        fitted = TablePreprocessor(self.numeric, self.categorical).set_fitted(ct)
        self.median, self.mean, self.scale = fitted.median_, fitted.mean_, fitted.scale_
        self.categories = fitted.categories_
        stats = np.vstack([self.median, self.mean, self.scale])
        for j in np.flatnonzero(~np.isfinite(stats).all(axis=0)):
            col = self.numeric[j]
            i = int(np.nanargmax(np.abs(inputs[col].to_numpy(dtype=np.float64))))
            raise DataError(
                f"column {col!r} cannot be standardized: its mean or spread overflows "
                f"(row {file_row(frame.index, i)} holds {float(inputs[col].iloc[i])!r})"
            )
        self.fitted = True
        self.column_transformer = ct
        return np.ascontiguousarray(out)  # C order: a mini-batch gather copies only its rows

    def transform(self, frame: pd.DataFrame, source: Any = None) -> np.ndarray:
        """The features of ``frame`` from the fitted state, in NumPy (``source`` names the
        file in messages).

        The same arithmetic as the fitted scikit-learn transformers (``x`` imputed, then
        ``(x - mean) / scale``; one indicator per known category), so the outputs are
        identical.
        """
        if not self.fitted:
            raise RuntimeError("the preprocessor is not fitted")
        inputs = self.prepare(frame, source)
        numbers = inputs[self.numeric].to_numpy(dtype=np.float64, copy=True)
        texts = [inputs[c].to_numpy(dtype=object) for c in self.categorical]
        out = encode(numbers, texts, self.median, self.mean, self.scale, self.categories)
        bad = np.argwhere(~np.isfinite(out[:, : len(self.numeric)]))
        if bad.size:
            i, j = (int(k) for k in bad[0])
            raise DataError(
                f"row {file_row(frame.index, i)}, column {self.numeric[j]!r}: the value "
                f"{float(inputs[self.numeric[j]].iloc[i])!r} is too large for the model (standardized "
                "it overflows)"
            )
        return np.ascontiguousarray(out)  # C order: a mini-batch gather copies only its rows

    def to_sklearn(self) -> TablePreprocessor:
        """The fitted scikit-learn transformer of the same state (for Python users)."""
        return TablePreprocessor.from_state(*self.get_state())

    # -------------------------------------------------------------- state for model files
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON configuration and float64 arrays of the fitted state (no pickle)."""
        return state_of(self.numeric, self.categorical, self.categories, self.median,
                        self.mean, self.scale)  # fmt: skip

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`get_state` output.

        Raises
        ------
        ValueError
            For an inconsistent state.
        """
        numeric, categorical, categories, (median, mean, scale) = check_state(config, arrays)
        return cls(numeric, categorical, median, mean, scale, categories, fitted=True)


@dataclass
class TargetScaler:
    """Standardization of a regression target: ``y' = (y - mean) / scale`` (``centered``
    False: ``mean`` is 0, the target only divided by ``scale``)."""

    mean: float = 0.0
    scale: float = 1.0
    centered: bool = True

    @classmethod
    def from_state(cls, state: Any) -> TargetScaler | None:
        """The scaler of a model file's ``target_scaling`` field (``None``: no scaling).

        Raises
        ------
        ValueError
            Unless ``state`` is ``None`` or ``{"mean": m, "scale": s}`` with finite numbers
            ``m`` and ``s > 0`` (booleans and strings are not numbers); the message names
            the field and the value.
        """
        pair = check_target_scaling(state)
        return None if pair is None else cls(*pair)

    @classmethod
    def fit(cls, y: Any, center: bool = True) -> TargetScaler:
        """Mean and standard deviation of ``y`` (scale 1 for a constant target); with
        ``center=False`` the mean is 0, the target only divided by its spread (a Poisson
        loss: its targets stay non-negative, the log link's scale moves)."""
        y = np.asarray(y, dtype=np.float64)
        unit = power_of_two_unit(float(np.abs(y).max(initial=0.0)))  # targets near 1e308
        scaled = y / unit
        std = float(scaled.std()) * unit
        mean = float(scaled.mean()) * unit if center else 0.0
        return cls(mean, std if std > 0 and math.isfinite(std) else 1.0, center)

    def transform(self, y: Any) -> np.ndarray:
        """Standardized ``y``."""
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.scale

    def inverse(self, y: Any) -> np.ndarray:
        """``y`` in the original units."""
        return np.asarray(y, dtype=np.float64) * self.scale + self.mean
