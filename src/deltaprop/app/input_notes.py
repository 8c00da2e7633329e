"""Notes and checks on the input columns of a table, before ``deltaprop train`` fits.

:func:`drop_empty_columns` leaves out the columns without any value (scikit-learn's
imputers would drop them too) and :func:`drop_index_columns` pandas' index columns
(``Unnamed: 0`` of :meth:`pandas.DataFrame.to_csv`), each with its note
(:func:`empty_note`, :func:`index_note`); :func:`identifier_notes` and
:func:`category_identifier_notes` name the columns that look like row identifiers (one
distinct value per row). The in-memory and the streamed paths print the same notes.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from deltaprop.app.columns import is_numeric
from deltaprop.app.console import plural
from deltaprop.app.errors import DataError
from deltaprop.app.preprocessing import file_row

if TYPE_CHECKING:
    from deltaprop.app.console import Output
    from deltaprop.app.preprocessing import Preprocessor

__all__ = [
    "category_identifier_notes",
    "check_representable",
    "drop_empty_columns",
    "drop_index_columns",
    "empty_note",
    "identifier_notes",
    "inputs_line",
    "prepare_inputs",
]

_UNNAMED = re.compile(r"Unnamed: \d+")


def drop_empty_columns(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``features`` without its columns that are missing in every row, and their names."""
    empty = [str(c) for c in features.columns if not features[c].notna().any()]
    return features.drop(columns=empty), empty


def drop_index_columns(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``features`` without pandas' index columns (``Unnamed: N``, integers with one
    distinct value per row), and their names."""
    index = [
        str(c)
        for c in features.columns
        if _UNNAMED.fullmatch(str(c)) and _one_integer_per_row(features[c])
    ]
    return features.drop(columns=index), index


def empty_note(columns: list[str]) -> str:
    """The note on the columns that :func:`drop_empty_columns` left out."""
    many = len(columns) > 1
    return (
        f"column{'s' if many else ''} {', '.join(map(repr, columns))} "
        f"{'have' if many else 'has'} no value in any row: left out of the inputs"
    )


def index_note(column: str) -> str:
    """The note on a column that :func:`drop_index_columns` left out."""
    return f"column {column!r} is a row index (as pandas' to_csv writes): left out of the inputs"


def _one_integer_per_row(col: pd.Series) -> bool:
    if not is_numeric(col) or col.isna().any() or len(col) < 2:
        return False
    values = col.to_numpy(dtype=np.float64)
    return bool(np.all(values == np.round(values))) and col.nunique() == len(col)


def _identifier_note(column: str, holds: str) -> str:
    """The note on a likely identifier (a network learns it by heart), numeric or not."""
    return f"column {column!r} {holds}: an identifier? Leave it out with --ignore {column!r}"


def inputs_line(pre: Preprocessor) -> str:
    """The command's line on a fitted preprocessing's inputs and features."""
    return (
        f"inputs: {len(pre.numeric)} numeric and {len(pre.categorical)} categorical columns "
        f"-> {plural(len(pre.feature_names), 'feature')}"
    )


def category_identifier_notes(pre: Preprocessor, n_rows: int) -> list[str]:
    """A note for each categorical column of ``pre`` (fitted on ``n_rows`` rows) with more
    than 50 categories and more than one for every two rows: almost one per row."""
    return [
        _identifier_note(col, f"has {len(cats)} distinct values, almost one per row")
        for col, cats in zip(pre.categorical, pre.categories, strict=True)
        if len(cats) > 50 and len(cats) > 0.5 * n_rows
    ]


def identifier_notes(features: pd.DataFrame, categorical: list[str]) -> list[str]:
    """A note for each numeric column (not named by ``--categorical``) of integers with one
    distinct value per row: an identifier, which a network learns by heart."""
    return [
        _identifier_note(c, "holds a distinct integer in every row")
        for c in map(str, features.columns)
        if c not in categorical and len(features) >= 20 and _one_integer_per_row(features[c])
    ]


def prepare_inputs(
    features: pd.DataFrame,
    categorical: list[str],
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    dtype: str,
    out: Output,
) -> tuple[Preprocessor, np.ndarray, np.ndarray, list[str]]:
    """Leave out the empty and the index columns (with a note), fit the preprocessing on the
    training rows, transform the validation rows (refusing a value the training cannot
    hold), note the likely identifiers.

    Returns
    -------
    pre : Preprocessor
    X_train : ndarray of shape (len(train_rows), n_features)
    X_val : ndarray of shape (len(val_rows), n_features)
    dropped : list of str
        The columns left out, for the model file.
    """
    from deltaprop.app.preprocessing import Preprocessor

    features, empty = drop_empty_columns(features)
    if empty:
        out.note(empty_note(empty))
    features, index = drop_index_columns(features)
    for c in index:
        out.note(index_note(c))
    pre = Preprocessor.for_frame(features, categorical)
    X_train = pre.fit_transform(features.iloc[train_rows])
    X_val = pre.transform(features.iloc[val_rows])
    check_representable(pre, X_val, features.iloc[val_rows], dtype)
    out.line(inputs_line(pre))
    for note in category_identifier_notes(pre, len(train_rows)):
        out.note(note)
    for note in identifier_notes(features[pre.numeric], categorical):
        out.note(note)
    return pre, X_train, X_val, [*empty, *index]


def check_representable(pre: Preprocessor, X: np.ndarray, frame: pd.DataFrame, dtype: str) -> None:
    """Refuse a standardized value (of rows not used to fit ``pre``: the validation rows)
    whose square overflows ``dtype``: the network's loss would be infinite.

    Raises
    ------
    DataError
        Naming the column, the row (and line) and the value.
    """
    limit = math.sqrt(float(np.finfo(np.dtype(dtype)).max))
    bad = np.argwhere(np.abs(X[:, : len(pre.numeric)]) > limit)
    if bad.size:
        i, j = (int(k) for k in bad[0])
        col = pre.numeric[j]
        row = file_row(frame.index, i)
        raise DataError(
            f"column {col!r}: validation row {row} holds "
            f"{float(pd.to_numeric(frame[col].iloc[i])):g}, {abs(float(X[i, j])):.3g} "
            f"standard deviations from the training rows' mean: too large to train on "
            f"({dtype}); fix the value, or mark it missing with --na-values"
        )
