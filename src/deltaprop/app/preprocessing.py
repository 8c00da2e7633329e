"""Preprocessing of a table's features and of a regression target, stored without pickle.

:class:`Preprocessor` fits scikit-learn's ``ColumnTransformer``: numeric columns go through
``SimpleImputer(strategy="median")`` and ``StandardScaler``, categorical ones through
``SimpleImputer(strategy="constant", fill_value="(missing)")`` and
``OneHotEncoder(handle_unknown="ignore")``. Its fitted state (medians, means, scales,
categories) is exported as a JSON configuration and float64 arrays
(:meth:`Preprocessor.get_state`), which :func:`deltaprop.io.save` stores in the
model file's extra section (``save(est, path, extra=state)``); no pickle is involved. A
preprocessor rebuilt from that state (:meth:`Preprocessor.from_state`) applies the same
arithmetic directly in NumPy and gives bit-identical outputs.

Regression targets are standardized by default (``y' = (y - mean) / scale``); the model
file stores the two numbers, and :func:`~deltaprop.app.fitting.predict_table` maps the
predictions back. The estimator inside such a model file therefore predicts standardized
values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deltaprop.app.columns import category_strings, is_numeric
from deltaprop.app.errors import DataError, shown

__all__ = [
    "MISSING_CATEGORY",
    "PREPROCESSING_FORMAT",
    "Preprocessor",
    "TargetScaler",
    "file_row",
]

MISSING_CATEGORY = "(missing)"
"""The category that stands for a missing value in a categorical column."""

PREPROCESSING_FORMAT = 1
"""Version of the configuration written by :meth:`Preprocessor.get_state`."""


def file_row(index: pd.Index, position: int) -> int:
    """The row number (1 = the first data row) that the file gives the row at ``position``.

    The command's tables keep the file's row labels (0, 1, ...) through the rows it leaves
    out (missing targets, the validation split), so messages name rows as the file does.
    """
    label = index[position]
    return int(label) + 1 if isinstance(label, int | np.integer) else int(position) + 1


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float64; text that is not a number is an error."""
    if is_numeric(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.to_numeric(s.astype(str).str.strip().where(s.notna()), errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & s.notna().to_numpy())
    if bad.size:
        raise DataError(
            f"column {name!r} must hold numbers (as when the model was trained), but row "
            f"{file_row(s.index, bad[0])} has {shown(s.iloc[bad[0]])}; fix it or mark it "
            "missing with --na-values"
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
        """Numeric columns are those of a numeric dtype (not boolean) not in ``categorical``."""
        numeric = [c for c in frame.columns if is_numeric(frame[c]) and c not in categorical]
        return cls(numeric, [c for c in frame.columns if c not in numeric])

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

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The input columns as the transformers see them: float64 numbers, string
        categories, NaN where missing.

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
        data = {c: _as_float(frame[c], c) for c in self.numeric}
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
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        categorical = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(
                        strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True
                    ),
                ),
                (
                    "onehot",
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64),
                ),
            ]
        )
        ct = ColumnTransformer(
            [("num", numeric, self.numeric), ("cat", categorical, self.categorical)],
            sparse_threshold=0.0,
        )
        inputs = self.prepare(frame)
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, by column and row
            out = np.asarray(ct.fit_transform(inputs), dtype=np.float64)
        if self.numeric:
            num = ct.named_transformers_["num"]
            self.median = np.asarray(num["impute"].statistics_, dtype=np.float64)
            self.mean = np.asarray(num["scale"].mean_, dtype=np.float64)
            self.scale = np.asarray(num["scale"].scale_, dtype=np.float64)
            stats = np.vstack([self.median, self.mean, self.scale])
            for j in np.flatnonzero(~np.isfinite(stats).all(axis=0)):
                col = self.numeric[j]
                i = int(np.nanargmax(np.abs(inputs[col].to_numpy(dtype=np.float64))))
                raise DataError(
                    f"column {col!r} cannot be standardized: its mean or spread overflows "
                    f"(row {file_row(frame.index, i)} holds {float(inputs[col].iloc[i])!r})"
                )
        if self.categorical:
            enc = ct.named_transformers_["cat"]["onehot"]
            self.categories = [[str(c) for c in cats] for cats in enc.categories_]
        self.fitted = True
        self.column_transformer = ct
        return np.ascontiguousarray(out)  # C order: a mini-batch gather copies only its rows

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The features of ``frame`` from the fitted state, in NumPy.

        The same arithmetic as the fitted scikit-learn transformers (``x`` imputed, then
        ``(x - mean) / scale``; one indicator per known category), so the outputs are
        identical.
        """
        if not self.fitted:
            raise RuntimeError("the preprocessor is not fitted")
        inputs = self.prepare(frame)
        n = len(inputs)
        blocks = []
        if self.numeric:
            X = inputs[self.numeric].to_numpy(dtype=np.float64, copy=True)
            X = np.where(np.isnan(X), self.median, X)
            with np.errstate(over="ignore", invalid="ignore"):
                X -= self.mean
                X /= self.scale
            bad = np.argwhere(~np.isfinite(X))
            if bad.size:
                i, j = (int(k) for k in bad[0])
                raise DataError(
                    f"row {file_row(frame.index, i)}, column {self.numeric[j]!r}: the value "
                    f"{float(inputs[self.numeric[j]].iloc[i])!r} is too large for the model (standardized "
                    "it overflows)"
                )
            blocks.append(X)
        for col, cats in zip(self.categorical, self.categories, strict=True):
            values = inputs[col].to_numpy(dtype=object)
            values = np.where(pd.isna(values), MISSING_CATEGORY, values)
            codes = pd.Index(cats, dtype=object).get_indexer(values)  # -1: unknown category
            onehot = np.zeros((n, len(cats)))
            known = np.flatnonzero(codes >= 0)
            onehot[known, codes[known]] = 1.0
            blocks.append(onehot)
        return np.ascontiguousarray(np.hstack(blocks)) if blocks else np.empty((n, 0))

    # -------------------------------------------------------------- state for model files
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON configuration and float64 arrays of the fitted state (no pickle)."""
        config = {
            "format": PREPROCESSING_FORMAT,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "categories": [list(c) for c in self.categories],
            "missing_category": MISSING_CATEGORY,
        }
        arrays = {"median": self.median, "mean": self.mean, "scale": self.scale}
        return config, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`get_state` output.

        Raises
        ------
        ValueError
            For an inconsistent state.
        """
        if not isinstance(config, dict):
            raise ValueError(
                f"the preprocessing must be a JSON object; got {type(config).__name__}"
            )
        if config.get("format") != PREPROCESSING_FORMAT:
            raise ValueError(
                f"preprocessing field 'format' must be {PREPROCESSING_FORMAT}; "
                f"got {config.get('format')!r}"
            )
        numeric, categorical = config.get("numeric"), config.get("categorical")
        categories = config.get("categories")
        for name, value in (("numeric", numeric), ("categorical", categorical)):
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise ValueError(
                    f"preprocessing field {name!r} must be a list of column names; "
                    f"got {_short(value)}"
                )
        assert isinstance(numeric, list) and isinstance(categorical, list)
        if (
            not isinstance(categories, list)
            or len(categories) != len(categorical)
            or not all(
                isinstance(c, list) and all(isinstance(v, str) for v in c) for c in categories
            )
        ):
            raise ValueError(
                "preprocessing field 'categories' must hold one list of category names per "
                f"categorical column ({len(categorical)}); got {_short(categories)}"
            )
        if config.get("missing_category") != MISSING_CATEGORY:
            raise ValueError(
                f"preprocessing field 'missing_category' must be {MISSING_CATEGORY!r}; "
                f"got {_short(config.get('missing_category'))}"
            )
        if not isinstance(arrays, dict):
            raise ValueError(f"the preprocessing arrays must be a mapping; got {_short(arrays)}")
        state = {}
        for key in ("median", "mean", "scale"):
            arr = arrays.get(key)
            shape = getattr(arr, "shape", None)
            if (
                shape != (len(numeric),)
                or getattr(arr, "dtype", np.dtype(object)).kind not in "fiu"
            ):
                raise ValueError(
                    f"preprocessing array 'extra/{key}' must hold {len(numeric)} numbers (one "
                    f"per numeric column); got {'none' if arr is None else f'shape {shape}'}"
                )
            state[key] = np.asarray(arr, dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(state[key]))
            if bad.size:
                raise ValueError(
                    f"preprocessing array 'extra/{key}' of column {numeric[bad[0]]!r} must be "
                    f"finite; got {state[key][bad[0]]!r}"
                )
        bad = np.flatnonzero(state["scale"] <= 0)
        if bad.size:
            raise ValueError(
                f"preprocessing array 'extra/scale' of column {numeric[bad[0]]!r} must be > 0; "
                f"got {float(state['scale'][bad[0]])!r}"
            )
        return cls(
            list(numeric),
            list(categorical),
            state["median"],
            state["mean"],
            state["scale"],
            [list(c) for c in categories],
            fitted=True,
        )


def _short(value: Any) -> str:
    """``repr`` of a value from a file, cut to 60 characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite JSON number (not a boolean), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


@dataclass
class TargetScaler:
    """Standardization of a regression target: ``y' = (y - mean) / scale``."""

    mean: float = 0.0
    scale: float = 1.0

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
        if state is None:
            return None
        if not isinstance(state, dict) or set(state) != {"mean", "scale"}:
            raise ValueError(
                "preprocessing field 'target_scaling' must be null or {\"mean\": number, "
                f'"scale": number}}; got {_short(state)}'
            )
        values = {}
        for key, ok, what in (
            ("mean", lambda v: True, "a finite number"),
            ("scale", lambda v: v > 0, "a finite number > 0"),
        ):
            v = state[key]
            number = _finite_number(v)
            if number is None or not ok(number):
                raise ValueError(
                    f"preprocessing field 'target_scaling.{key}' must be {what}; got {_short(v)}"
                )
            values[key] = number
        return cls(values["mean"], values["scale"])

    @classmethod
    def fit(cls, y: Any) -> TargetScaler:
        """Mean and standard deviation of ``y`` (scale 1 for a constant target)."""
        y = np.asarray(y, dtype=np.float64)
        std = float(y.std())
        return cls(float(y.mean()), std if std > 0 and math.isfinite(std) else 1.0)

    def transform(self, y: Any) -> np.ndarray:
        """Standardized ``y``."""
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.scale

    def inverse(self, y: Any) -> np.ndarray:
        """``y`` in the original units."""
        return np.asarray(y, dtype=np.float64) * self.scale + self.mean
