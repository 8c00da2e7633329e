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
    "detect_columns",
    "encode",
    "is_numeric",
    "is_text",
]


def is_text(s: pd.Series | Any) -> bool:
    """Whether a column (or a column's dtype) holds text: a string or object dtype."""
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s))


def is_numeric(s: pd.Series) -> bool:
    """Whether a column holds numbers: a numeric dtype, not boolean."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def detect_columns(
    frame: pd.DataFrame, categorical: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """The numeric and categorical columns of a table, as ``deltaprop train`` takes them.

    The numeric columns are those :func:`is_numeric` holds true of that are not in
    ``categorical``; every other column is categorical (text, booleans, the numbers named in
    ``categorical``).

    Returns
    -------
    (list of str, list of str)
        The numeric columns, then the categorical ones, each in the table's order.
    """
    numeric = [c for c in frame.columns if is_numeric(frame[c]) and c not in categorical]
    return numeric, [c for c in frame.columns if c not in numeric]


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


def _check_table(X: Any) -> None:
    if not hasattr(X, "columns"):
        raise ValueError(
            "TablePreprocessor takes a table with named columns (a pandas DataFrame). "
            f"Received: {type(X).__qualname__}"
        )


def column_transformer(numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """The unfitted scikit-learn ``ColumnTransformer`` whose fit gives the state:
    ``SimpleImputer(median)`` (its faster fit,
    :class:`~deltaprop.sklearn.median_imputer.MedianImputer`) and ``StandardScaler`` on
    ``numeric``,
    ``SimpleImputer(constant "(missing)")`` and ``OneHotEncoder(handle_unknown="ignore")``
    on ``categorical`` (dense float64 output)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from deltaprop.sklearn.median_imputer import MedianImputer

    num = Pipeline(
        [
            ("impute", MedianImputer(strategy="median", keep_empty_features=True)),
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
    numeric : sequence of str, optional
        Numeric columns. ``None`` (the default): the columns that :func:`detect_columns`
        finds numeric in the table given to :meth:`fit` (not in ``categorical``).
    categorical : sequence of str, optional
        Categorical columns (any values, compared as :func:`category_strings`). ``None``
        (the default): every other column of the table given to :meth:`fit`. A bare
        ``TablePreprocessor()`` therefore takes the table as ``deltaprop train`` does.

    Attributes
    ----------
    numeric_, categorical_ : list of str
        The columns fitted: ``numeric`` and ``categorical``, or those found in the table.
    median_, mean_, scale_ : ndarray of shape (len(numeric_),)
        Medians, means after imputation, and scales (1 for a constant column).
    categories_ : list of list of str
        The categories of each categorical column, sorted.
    feature_names_in_ : ndarray of str
        ``numeric_`` then ``categorical_``: the columns :meth:`transform` reads.
    target_ : str or None
        The target column's name: the name of the ``y`` (a pandas Series) given to
        :meth:`fit`, or the model file's; a saved pipeline keeps it (``deltaprop evaluate``
        reads it).
    """

    def __init__(
        self, numeric: Sequence[str] | None = None, categorical: Sequence[str] | None = None
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical

    def _columns(self) -> list[str]:
        return [*self.numeric_, *self.categorical_]

    def _resolve(self, X: Any) -> None:
        """Set ``numeric_`` and ``categorical_`` from the parameters and the table ``X``."""
        _check_table(X)
        given = list(self.categorical) if self.categorical is not None else []
        numeric = list(self.numeric) if self.numeric is not None else detect_columns(X, given)[0]
        if self.categorical is None:
            given = [c for c in X.columns if c not in numeric]
        if not numeric and not given:
            raise ValueError(
                "TablePreprocessor selects no columns: numeric and categorical are empty "
                f"(received numeric={self.numeric!r}, categorical={self.categorical!r}, and "
                f"a table of {len(X.columns)} columns); leave both unset to take every column"
            )
        self.numeric_, self.categorical_ = numeric, given

    def inputs(self, X: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """The numbers (float64, NaN where missing) and category strings of a table.

        Raises
        ------
        ValueError
            If ``X`` is not a table with named columns, lacks a column, or a numeric column
            holds text that is not a number.
        """
        import pandas as pd

        _check_table(X)
        missing = [c for c in self._columns() if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the columns {missing!r} that the preprocessing reads")
        numbers = np.empty((len(X), len(self.numeric_)))
        for j, c in enumerate(self.numeric_):
            try:
                numbers[:, j] = pd.to_numeric(X[c], errors="raise")
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {c!r} must hold numbers: {exc}") from None
        return numbers, [category_strings(X[c]) for c in self.categorical_]

    def fit(self, X: Any, y: Any = None) -> TablePreprocessor:
        """Fit scikit-learn's transformers (:func:`column_transformer`) on the table ``X``.

        Raises
        ------
        ValueError
            As :meth:`inputs`, or if no column is selected.
        """
        import pandas as pd

        self._resolve(X)
        numbers, texts = self.inputs(X)
        frame = pd.DataFrame(
            {
                **{c: numbers[:, j] for j, c in enumerate(self.numeric_)},
                **dict(zip(self.categorical_, texts, strict=True)),
            },
            columns=self._columns(),
        )
        ct = column_transformer(self.numeric_, self.categorical_)
        with np.errstate(over="ignore", invalid="ignore"):
            ct.fit(frame)
        name = getattr(y, "name", None)
        self.target_ = None if name is None else str(name)
        return self.set_fitted(ct)

    def set_fitted(self, ct: Any) -> TablePreprocessor:
        """Take the columns and state of a fitted :func:`column_transformer`; return ``self``."""
        self.numeric_, self.categorical_ = (list(spec[2]) for spec in ct.transformers)
        stats = [np.empty(0)] * 3
        if self.numeric_:
            num = ct.named_transformers_["num"]
            stats = [num["impute"].statistics_, num["scale"].mean_, num["scale"].scale_]
        self.median_, self.mean_, self.scale_ = (np.asarray(s, dtype=np.float64) for s in stats)
        self.categories_ = []
        if self.categorical_:
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
        bad = np.argwhere(~np.isfinite(out[:, : len(self.numeric_)]))
        if bad.size:
            i, j = (int(v) for v in bad[0])
            value = float(numbers[i, j])
            why = (
                "is not a finite number"
                if not np.isfinite(value)
                else "is not a finite number once standardized (too large for its column)"
            )
            raise ValueError(f"row {i}, column {self.numeric_[j]!r}: the value {value!r} {why}")
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Numeric columns, then ``column=category``."""
        check_is_fitted(self, "median_")
        names = list(self.numeric_)
        for col, cats in zip(self.categorical_, self.categories_, strict=True):
            names.extend(f"{col}={c}" for c in cats)
        return np.asarray(names, dtype=object)

    # -------------------------------------------------------------- state for model files
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON configuration and float64 arrays of the fitted state (no pickle)."""
        check_is_fitted(self, "median_")
        return state_of(self.numeric_, self.categorical_, self.categories_, self.median_,
                        self.mean_, self.scale_)  # fmt: skip

    @classmethod
    def from_state(cls, config: Any, arrays: Any) -> TablePreprocessor:
        """The fitted preprocessor of :meth:`get_state` output (see :func:`check_state`)."""
        numeric, categorical, categories, stats = check_state(config, arrays)
        pre = cls(numeric, categorical)
        pre.numeric_, pre.categorical_ = list(numeric), list(categorical)
        pre.median_, pre.mean_, pre.scale_ = stats
        pre.categories_ = categories
        target = config.get("target")
        pre.target_ = target if isinstance(target, str) else None
        pre.feature_names_in_ = np.asarray(pre._columns(), dtype=object)
        pre.n_features_in_ = len(pre.feature_names_in_)
        return pre
