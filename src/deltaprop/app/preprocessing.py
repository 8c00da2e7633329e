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
from deltaprop.app.errors import DataError

__all__ = ["MISSING_CATEGORY", "PREPROCESSING_FORMAT", "Preprocessor", "TargetScaler"]

MISSING_CATEGORY = "(missing)"
"""The category that stands for a missing value in a categorical column."""

PREPROCESSING_FORMAT = 1
"""Version of the configuration written by :meth:`Preprocessor.get_state`."""


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float64; text that is not a number is an error."""
    if is_numeric(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.to_numeric(s.astype(str).str.strip().where(s.notna()), errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & s.notna().to_numpy())
    if bad.size:
        raise DataError(
            f"column {name!r} must hold numbers (as when the model was trained), but row "
            f"{bad[0] + 1} has {str(s.iloc[bad[0]])!r}; fix it or mark it missing with --na-values"
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
                row = int(np.flatnonzero(np.isinf(data[c]))[0])
                raise DataError(f"column {c!r} holds an infinite value (row {row + 1})")
        data.update({c: category_strings(frame[c]) for c in self.categorical})
        return pd.DataFrame(data, columns=self.columns)

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
        out = np.asarray(ct.fit_transform(inputs), dtype=np.float64)
        if self.numeric:
            num = ct.named_transformers_["num"]
            self.median = np.asarray(num["impute"].statistics_, dtype=np.float64)
            self.mean = np.asarray(num["scale"].mean_, dtype=np.float64)
            self.scale = np.asarray(num["scale"].scale_, dtype=np.float64)
        if self.categorical:
            enc = ct.named_transformers_["cat"]["onehot"]
            self.categories = [[str(c) for c in cats] for cats in enc.categories_]
        self.fitted = True
        self.column_transformer = ct
        return out

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
            X -= self.mean
            X /= self.scale
            blocks.append(X)
        for col, cats in zip(self.categorical, self.categories, strict=True):
            values = inputs[col].to_numpy(dtype=object)
            values = np.where(pd.isna(values), MISSING_CATEGORY, values)
            codes = pd.Index(cats, dtype=object).get_indexer(values)  # -1: unknown category
            onehot = np.zeros((n, len(cats)))
            known = np.flatnonzero(codes >= 0)
            onehot[known, codes[known]] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.empty((n, 0))

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
        if not isinstance(config, dict) or config.get("format") != PREPROCESSING_FORMAT:
            raise ValueError(f"unsupported preprocessing format {config.get('format')!r}")
        numeric, categorical = config.get("numeric"), config.get("categorical")
        categories = config.get("categories")
        for name, value in (("numeric", numeric), ("categorical", categorical)):
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise ValueError(f"preprocessing {name!r} must be a list of column names")
        assert isinstance(numeric, list) and isinstance(categorical, list)
        if (
            not isinstance(categories, list)
            or len(categories) != len(categorical)
            or not all(
                isinstance(c, list) and all(isinstance(v, str) for v in c) for c in categories
            )
        ):
            raise ValueError("preprocessing 'categories' must list the categories of each column")
        if config.get("missing_category") != MISSING_CATEGORY:
            raise ValueError("unsupported preprocessing 'missing_category'")
        state = {}
        for key in ("median", "mean", "scale"):
            arr = arrays.get(key)
            if arr is None or arr.shape != (len(numeric),):
                raise ValueError(f"preprocessing array {key!r} must have shape ({len(numeric)},)")
            state[key] = np.asarray(arr, dtype=np.float64)
        if not (np.all(np.isfinite(state["scale"])) and np.all(state["scale"] > 0)):
            raise ValueError("preprocessing 'scale' must be positive")
        return cls(
            list(numeric),
            list(categorical),
            state["median"],
            state["mean"],
            state["scale"],
            [list(c) for c in categories],
            fitted=True,
        )


@dataclass
class TargetScaler:
    """Standardization of a regression target: ``y' = (y - mean) / scale``."""

    mean: float = 0.0
    scale: float = 1.0

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
