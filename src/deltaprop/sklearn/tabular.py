"""A table's features for a network: :class:`TablePreprocessor`, stored without pickle.

Numeric columns are imputed with their median, then standardized (``(x - mean) / scale``);
categorical columns are imputed with the category ``"(missing)"``, then one-hot encoded, an
unknown category encoding as all zeros. Fitting uses scikit-learn's own transformers
(:func:`column_transformer`); the fitted state (medians, means, scales, categories) is a JSON
configuration and float64 arrays (:meth:`TablePreprocessor.get_state`, the format that the
``deltaprop train`` command keeps in a model file's extra section), and
:meth:`~TablePreprocessor.transform` applies it in NumPy (:func:`encode`), with the same
arithmetic as the scikit-learn transformers, so the outputs are identical.

>>> import pandas as pd
>>> frame = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
>>> pre = TablePreprocessor(numeric=["x"], categorical=["c"]).fit(frame)
>>> list(pre.get_feature_names_out())
['x', 'c=(missing)', 'c=a', 'c=b']
>>> pre.transform(frame).round(3).tolist()
[[-1.225, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.225, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from deltaprop.sklearn.tabular_state import (
    MISSING_CATEGORY,
    PREPROCESSING_FORMAT,
    check_state,
    state_of,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MISSING_CATEGORY",
    "PREPROCESSING_FORMAT",
    "TablePreprocessor",
    "category_strings",
    "column_transformer",
    "encode",
    "is_text",
]


def is_text(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s))


def category_strings(s: pd.Series) -> np.ndarray:
    """A column's values as stripped strings (integral floats without ``.0``), NaN where
    missing."""
    present = s.notna().to_numpy()
    out = np.full(len(s), np.nan, dtype=object)
    if not present.any():
        return out
    if is_text(s) and all(isinstance(v, str) for v in s[present].head(1000)):
        try:
            out[present] = s[present].astype(str).str.strip().to_numpy(dtype=object)
            return out
        except (TypeError, ValueError):  # pragma: no cover - mixed objects: the loop below
            pass
    values = s.to_numpy(dtype=object)
    for i in np.flatnonzero(present):
        v = values[i]
        if isinstance(v, bool | np.bool_):
            out[i] = str(bool(v))
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v).strip()
    return out


def column_transformer(numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """The unfitted scikit-learn ``ColumnTransformer`` whose fit gives the state:
    ``SimpleImputer(median)`` and ``StandardScaler`` on ``numeric``,
    ``SimpleImputer(constant "(missing)")`` and ``OneHotEncoder(handle_unknown="ignore")``
    on ``categorical`` (dense float64 output)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    impute = SimpleImputer(
        strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True
    )
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
    cat = Pipeline([("impute", impute), ("onehot", onehot)])
    return ColumnTransformer(
        [("num", num, list(numeric)), ("cat", cat, list(categorical))], sparse_threshold=0.0
    )


def encode(
    numbers: np.ndarray,
    texts: Sequence[np.ndarray],
    median: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    categories: Sequence[Sequence[str]],
) -> np.ndarray:
    """The features: imputed standardized numbers, then one indicator per known category.

    Parameters
    ----------
    numbers : ndarray of shape (n_rows, n_numeric)
        float64, NaN where missing.
    texts : sequence of ndarray of shape (n_rows,)
        One object array per categorical column: strings, NaN where missing.
    median, mean, scale : ndarray of shape (n_numeric,)
    categories : sequence of sequence of str
        The known categories of each categorical column.

    Returns
    -------
    ndarray of shape (n_rows, n_numeric + total categories)
        float64; a number that overflows when standardized is ``inf`` (callers refuse it).
    """
    import pandas as pd

    n = len(numbers)
    X = np.where(np.isnan(numbers), median, numbers)
    with np.errstate(over="ignore", invalid="ignore"):
        X -= mean
        X /= scale
    blocks = [X]
    for values, cats in zip(texts, categories, strict=True):
        values = np.where(pd.isna(values), MISSING_CATEGORY, values)
        codes = pd.Index(list(cats), dtype=object).get_indexer(values)  # -1: unknown
        onehot = np.zeros((n, len(cats)))
        known = np.flatnonzero(codes >= 0)
        onehot[known, codes[known]] = 1.0
        blocks.append(onehot)
    return np.hstack(blocks)


class TablePreprocessor(TransformerMixin, BaseEstimator):
    """Median-impute and standardize numbers, impute and one-hot encode categories.

    Parameters
    ----------
    numeric : sequence of str
        Numeric columns.
    categorical : sequence of str
        Categorical columns (any values, compared as :func:`category_strings`).

    Attributes
    ----------
    median_, mean_, scale_ : ndarray of shape (len(numeric),)
        Medians, means after imputation, and scales (1 for a constant column).
    categories_ : list of list of str
        The categories of each categorical column, sorted.
    feature_names_in_ : ndarray of str
        ``numeric`` then ``categorical``: the columns :meth:`transform` reads.
    """

    def __init__(self, numeric: Sequence[str] = (), categorical: Sequence[str] = ()) -> None:
        self.numeric = numeric
        self.categorical = categorical

    def _columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def inputs(self, X: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """The numbers (float64, NaN where missing) and category strings of a table.

        Raises
        ------
        ValueError
            If ``X`` is not a table with named columns, lacks a column, or a numeric column
            holds text that is not a number.
        """
        import pandas as pd

        if not hasattr(X, "columns"):
            raise ValueError(
                "TablePreprocessor takes a table with named columns (a pandas DataFrame). "
                f"Received: {type(X).__qualname__}"
            )
        missing = [c for c in self._columns() if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the columns {missing!r} that the preprocessing reads")
        numbers = np.empty((len(X), len(self.numeric)))
        for j, c in enumerate(self.numeric):
            try:
                numbers[:, j] = pd.to_numeric(X[c], errors="raise")
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {c!r} must hold numbers: {exc}") from None
        return numbers, [category_strings(X[c]) for c in self.categorical]

    def fit(self, X: Any, y: Any = None) -> TablePreprocessor:
        """Fit scikit-learn's transformers (:func:`column_transformer`) on the table ``X``."""
        import pandas as pd

        numbers, texts = self.inputs(X)
        frame = pd.DataFrame(
            {
                **{c: numbers[:, j] for j, c in enumerate(self.numeric)},
                **dict(zip(self.categorical, texts, strict=True)),
            },
            columns=self._columns(),
        )
        ct = column_transformer(self.numeric, self.categorical)
        with np.errstate(over="ignore", invalid="ignore"):
            ct.fit(frame)
        return self.set_fitted(ct)

    def set_fitted(self, ct: Any) -> TablePreprocessor:
        """Take the state of a fitted :func:`column_transformer`; return ``self``."""
        k = len(self.numeric)
        stats = [np.empty(0)] * 3
        if k:
            num = ct.named_transformers_["num"]
            stats = [num["impute"].statistics_, num["scale"].mean_, num["scale"].scale_]
        self.median_, self.mean_, self.scale_ = (np.asarray(s, dtype=np.float64) for s in stats)
        self.categories_ = []
        if self.categorical:
            enc = ct.named_transformers_["cat"]["onehot"]
            self.categories_ = [[str(c) for c in cats] for cats in enc.categories_]
        self.feature_names_in_ = np.asarray(self._columns(), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The features of the table ``X``.

        Returns
        -------
        ndarray of shape (n_rows, n_features)
            float64, in the order of :meth:`get_feature_names_out`.

        Raises
        ------
        ValueError
            As :meth:`inputs`, or for a number too large to standardize.
        """
        check_is_fitted(self, "median_")
        numbers, texts = self.inputs(X)
        out = encode(numbers, texts, self.median_, self.mean_, self.scale_, self.categories_)
        bad = np.argwhere(~np.isfinite(out[:, : len(self.numeric)]))
        if bad.size:
            i, j = (int(v) for v in bad[0])
            raise ValueError(
                f"row {i}, column {self.numeric[j]!r}: the value {numbers[i, j]!r} is not a "
                "finite number once standardized"
            )
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Numeric columns, then ``column=category``."""
        check_is_fitted(self, "median_")
        names = list(self.numeric)
        for col, cats in zip(self.categorical, self.categories_, strict=True):
            names.extend(f"{col}={c}" for c in cats)
        return np.asarray(names, dtype=object)

    # -------------------------------------------------------------- state for model files
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON configuration and float64 arrays of the fitted state (no pickle)."""
        check_is_fitted(self, "median_")
        return state_of(self.numeric, self.categorical, self.categories_, self.median_,
                        self.mean_, self.scale_)  # fmt: skip

    @classmethod
    def from_state(cls, config: Any, arrays: Any) -> TablePreprocessor:
        """The fitted preprocessor of :meth:`get_state` output (see :func:`check_state`)."""
        numeric, categorical, categories, stats = check_state(config, arrays)
        pre = cls(numeric, categorical)
        pre.median_, pre.mean_, pre.scale_ = stats
        pre.categories_ = categories
        pre.feature_names_in_ = np.asarray(pre._columns(), dtype=object)
        pre.n_features_in_ = len(pre.feature_names_in_)
        return pre
