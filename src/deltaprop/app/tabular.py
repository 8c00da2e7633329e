"""Tables for the ``deltaprop`` command: reading, task detection, preprocessing, training.

Reading
-------
:func:`read_table` reads CSV (``.csv``, ``.tsv``, ``.txt``, with :func:`pandas.read_csv`),
Parquet (``.parquet``, ``.pq``; only if ``pyarrow`` is installed) and NumPy ``.npz`` files
(either an ``X`` matrix, optionally ``feature_names``, plus 1-D arrays such as ``y``, or only
1-D arrays of one length, each a column; loaded with ``allow_pickle=False``). Every problem
raises :class:`DataError` with one line that names the file and what is wrong. Under MPI
(``comm``), the ranks parse a ``.csv``/``.tsv`` file's lines in shares and exchange them
(:mod:`deltaprop.app.csv_shards`); every rank gets the table of a one-process read.

A text column whose non-missing values are *mostly* numbers (at least half of them parse)
but not all is taken for a numeric column with a typo, not for categories: reading fails
and names the column, the first bad value and its row, and how to proceed (fix the value,
declare it missing with ``na_values``, or declare the column categorical). A text column in
which every value parses is converted to numbers.

Task detection
--------------
:func:`detect_task`: a text, boolean or categorical target is classification; a target
with non-integer numbers is regression; an integer-valued target is classification when it
has 2 distinct values, or at most 20 that are each, on average, at least 20 rows
(``n_unique <= 20`` and ``n_unique <= 5 %`` of the rows), and regression otherwise.

Preprocessing
-------------
:class:`Preprocessor` fits scikit-learn's ``ColumnTransformer``: numeric columns go through
``SimpleImputer(strategy="median")`` and ``StandardScaler``, categorical ones through
``SimpleImputer(strategy="constant", fill_value="(missing)")`` and
``OneHotEncoder(handle_unknown="ignore")``. Its fitted state (medians, means, scales,
categories) is exported as a JSON configuration and float64 arrays
(:meth:`Preprocessor.get_state`), which :func:`deltaprop.io.persistence.save` stores in the
model file through the estimator's ``preprocessing_`` attribute; no pickle is involved. A
preprocessor rebuilt from that state (:meth:`Preprocessor.from_state`) applies the same
arithmetic directly in NumPy and gives bit-identical outputs.

Regression targets are standardized by default (``y' = (y - mean) / scale``); the model
file stores the two numbers, and :func:`predict_table` maps the predictions back. The
estimator inside such a model file therefore predicts standardized values.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deltaprop.train import Callback

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = [
    "MISSING_CATEGORY",
    "DataError",
    "Preprocessor",
    "TargetScaler",
    "detect_task",
    "fit_estimator",
    "metrics",
    "predict_table",
    "read_table",
    "split_target",
    "train_validation_split",
]

MISSING_CATEGORY = "(missing)"
"""The category that stands for a missing value in a categorical column."""

PREPROCESSING_FORMAT = 1
"""Version of the configuration written by :meth:`Preprocessor.get_state`."""

_CSV = {".csv": ",", ".tsv": "\t", ".txt": None}
_PARQUET = {".parquet", ".pq"}
_MAX_CLASSES = 20


class DataError(ValueError):
    """A problem with the user's data or files; the message is one line that says what."""


class CSVSyntaxError(DataError):
    """A CSV file that the parser cannot cut into rows of fields (wrong field counts)."""


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------
def check_readable(path: Path) -> None:
    """Fail on a path that is missing, a directory or unreadable."""
    if not path.exists():
        raise DataError(f"no such file: '{path}'")
    if path.is_dir():
        raise DataError(f"'{path}' is a directory, not a data file")
    if not os.access(path, os.R_OK):
        raise DataError(f"cannot read '{path}': permission denied")


def read_table(
    path: str | os.PathLike[str],
    *,
    na_values: Sequence[str] = (),
    categorical: Sequence[str] = (),
    parse_numbers: bool = True,
    comm: MPICommunicator | None = None,
) -> pd.DataFrame:
    """Read a data file into a DataFrame, with a clear error for every problem.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv``, ``.txt`` (delimiter sniffed), ``.parquet``/``.pq`` or
        ``.npz`` file.
    na_values : sequence of str, default=()
        Extra strings that mean "missing", besides pandas' defaults (empty, ``NA``,
        ``NaN``, ``null``, ...).
    categorical : sequence of str, default=()
        Columns that are categories even if they hold numbers; they skip the check for
        numbers mixed with text. Each must exist.
    parse_numbers : bool, default=True
        Apply :func:`check_numeric_text`. A fitted :class:`Preprocessor` checks the
        columns it knows to be numeric itself, so reading data for a trained model skips
        this.
    comm : MPICommunicator, optional
        Under MPI the ranks of ``comm`` read a ``.csv`` or ``.tsv`` file together: each
        parses its share of the lines and every rank receives the whole table
        (:func:`deltaprop.app.csv_shards.read_csv`); a file that cannot be cut safely (one with
        a ``"``, for instance) is read whole by every rank. Call it on every rank of
        ``comm``. The table is the one-process table either way.

    Returns
    -------
    pandas.DataFrame
        At least one row and one column.

    Raises
    ------
    DataError
        Missing, unreadable, empty, binary or malformed file; an unsupported file type;
        Parquet without pyarrow; a numeric column holding text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    frame, sep = None, _CSV.get(suffix)
    if comm is not None and comm.size > 1 and sep is not None:  # .csv, .tsv
        from deltaprop.app import csv_shards  # checks the path too, on every rank together

        frame = csv_shards.read_csv(path, sep, list(na_values), comm)
    if frame is None:
        frame = _read_file(path, suffix, list(na_values))
    if frame.shape[1] == 0:
        raise DataError(f"'{path}' is empty: no columns")
    if frame.shape[0] == 0:
        raise DataError(f"'{path}' has no data rows (only a header)")
    frame.columns = [str(c) for c in frame.columns]
    if na_values and suffix not in _CSV:
        frame = frame.replace(list(na_values), np.nan)
    missing = sorted(set(categorical) - set(frame.columns))
    if missing:
        raise DataError(no_column_message(missing[0], frame.columns, path, "--categorical"))
    if not parse_numbers:
        return frame
    return check_numeric_text(frame, path, skip=categorical, line_offset=2 if suffix in _CSV else 1)


def _read_file(path: Path, suffix: str, na_values: list[str]) -> pd.DataFrame:
    check_readable(path)
    if suffix in _CSV:
        return _read_csv(path, _CSV[suffix], na_values)
    if suffix in _PARQUET:
        return _read_parquet(path)
    if suffix == ".npz":
        return _read_npz(path)
    raise DataError(
        f"cannot read '{path}': unsupported file type {suffix or '(no extension)'!r}; "
        "use .csv, .tsv, .parquet (with pyarrow installed) or .npz"
    )


def _read_csv(path: Path, sep: str | None, na_values: list[str]) -> pd.DataFrame:
    check_csv_head(path)
    return parse_csv(path, path, sep, na_values)


def check_csv_head(path: Path) -> None:
    """Fail on a file that is empty or binary, judged from its first 8 KiB."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if not head.strip():
        raise DataError(f"'{path}' is empty")
    if b"\x00" in head:
        raise DataError(f"'{path}' is a binary file, not a CSV text file")


def parse_csv(
    source: Any, path: Path, sep: str | None, na_values: list[str], **options: Any
) -> pd.DataFrame:
    """:func:`pandas.read_csv` of ``source`` with the reading options of :func:`read_table`.

    ``path`` names the file in messages; ``options`` are further :func:`pandas.read_csv`
    arguments (``nrows``, ``header``, ``names``). Every pandas error becomes a
    :class:`DataError`.
    """
    try:
        engine: dict[str, Any] = {"engine": "python"} if sep is None else {"low_memory": False}
        return pd.read_csv(
            source, sep=sep, na_values=na_values or None, skipinitialspace=True, **engine, **options
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"'{path}' is empty") from None
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "malformed CSV"
        raise CSVSyntaxError(f"cannot parse '{path}' as CSV: {first}") from None
    except UnicodeDecodeError:
        raise DataError(f"'{path}' is not a UTF-8 text file; save it as UTF-8 CSV") from None
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    if importlib.util.find_spec("pyarrow") is None:
        raise DataError(
            f"cannot read '{path}': reading Parquet files needs pyarrow, which is not "
            "installed (pip install pyarrow), or convert the file to CSV"
        )
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read '{path}' as Parquet: {first}") from None


def _read_npz(path: Path) -> pd.DataFrame:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataError(f"'{path}' is not a valid .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"'{path}' holds object arrays, which are not read (they need pickle); "
                "store numbers or fixed-width strings"
            ) from None
        raise DataError(f"cannot read '{path}' as .npz: {exc}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read '{path}' as .npz: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DataError(f"'{path}' is not a valid .npz file ({type(exc).__name__})") from None
    if not arrays:
        raise DataError(f"'{path}' is empty: it holds no arrays")
    columns: dict[str, np.ndarray] = {}
    if "X" in arrays:
        X = arrays.pop("X")
        if X.ndim != 2:
            raise DataError(f"'{path}': X must be 2-D (rows, features). Received: shape {X.shape}")
        names = arrays.pop("feature_names", None)
        if names is None:
            names = np.array([f"x{j}" for j in range(X.shape[1])])
        if names.shape != (X.shape[1],):
            raise DataError(f"'{path}': feature_names must have one name per column of X")
        columns.update({str(n): X[:, j] for j, n in enumerate(names)})
    for name, arr in arrays.items():
        if arr.ndim != 1:
            raise DataError(
                f"'{path}': array {name!r} must be 1-D (one column), or be the 2-D 'X'. "
                f"Received: shape {arr.shape}"
            )
        columns[name] = arr
    lengths = {name: len(a) for name, a in columns.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"'{path}': the arrays have different numbers of rows: {lengths}")
    return pd.DataFrame(columns)


def _is_text(s: pd.Series) -> bool:
    return bool(pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s))


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def check_numeric_text(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    skip: Sequence[str] = (),
    line_offset: int = 1,
) -> pd.DataFrame:
    """Convert all-number text columns to numbers; fail on numbers mixed with text.

    A text column is numeric when at least half of its non-missing values are numbers; if
    some are not, that is an error naming the column, the first bad value and its row.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or path-like
        For messages.
    skip : sequence of str
        Columns left as they are (declared categorical).
    line_offset : int, default=1
        2 for a CSV file, whose line 1 is the header: messages then also give the line.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with the converted columns.
    """
    frame = frame.copy()
    for name in frame.columns:
        col = frame[name]
        if name in skip or not _is_text(col):
            continue
        present = col.notna().to_numpy()
        parsed = pd.to_numeric(col[present].astype(str).str.strip(), errors="coerce")
        ok = parsed.notna().to_numpy()
        if ok.all():
            values = np.full(len(col), np.nan)
            values[present] = parsed.to_numpy(dtype=np.float64)
            frame[name] = values
            continue
        if ok.mean() < 0.5:
            continue  # mostly text: a categorical column
        bad = np.flatnonzero(present)[~ok]
        where = f"row {bad[0] + 1}" + (f" (line {bad[0] + 2})" if line_offset == 2 else "")
        value = str(col.iloc[bad[0]])
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(
            f"column {name!r} of '{path}' holds numbers, but {where} has "
            f"{value!r}{more}, which is not a number; fix it, mark it missing with "
            f"--na-values {value!r}, or make the column categorical with --categorical {name!r}"
        )
    return frame


def no_column_message(name: str, columns: Any, path: Any, option: str) -> str:
    """``"--target 'x': no such column in 'f.csv' (columns: ...); did you mean 'X'?"``."""
    cols = [str(c) for c in columns]
    close = difflib.get_close_matches(name, cols, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(cols[:12]) + (f", ... ({len(cols)} columns)" if len(cols) > 12 else "")
    return f"{option} {name!r}: no such column in '{path}' (columns: {shown}){hint}"


# ---------------------------------------------------------------------------------------
# Target and task
# ---------------------------------------------------------------------------------------
def split_target(
    frame: pd.DataFrame, target: str, path: Any, *, ignore: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.Series, int]:
    """Separate the feature columns from the target; drop rows without a target.

    Parameters
    ----------
    frame : pandas.DataFrame
    target : str
    path : str or path-like
        For messages.
    ignore : sequence of str
        Columns that are not features (identifiers, leaks).

    Returns
    -------
    features : pandas.DataFrame
    y : pandas.Series
    n_dropped : int
        Rows dropped because their target is missing.
    """
    if target not in frame.columns:
        raise DataError(no_column_message(target, frame.columns, path, "--target"))
    for name in ignore:
        if name not in frame.columns:
            raise DataError(no_column_message(name, frame.columns, path, "--ignore"))
    keep = frame[target].notna().to_numpy()
    if not keep.any():
        raise DataError(f"the target column {target!r} of '{path}' has no values")
    features = frame.loc[keep, [c for c in frame.columns if c != target and c not in ignore]]
    if features.shape[1] == 0:
        raise DataError(f"'{path}' has no feature columns besides the target {target!r}")
    y = frame.loc[keep, target]
    return features.reset_index(drop=True), y.reset_index(drop=True), int((~keep).sum())


def detect_task(y: pd.Series) -> tuple[str, str]:
    """``("classification" | "regression", reason)`` for a target column (see the module).

    Examples
    --------
    >>> import pandas as pd
    >>> detect_task(pd.Series(["a", "b", "a"]))[0]
    'classification'
    >>> detect_task(pd.Series([0.5, 1.25, 3.0]))[0]
    'regression'
    """
    name = repr(str(y.name)) if y.name is not None else "the target"
    if not _is_numeric(y):
        return "classification", f"{name} holds text, booleans or categories"
    values = y.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return "regression", f"{name} holds real numbers"
    if not np.all(values == np.round(values)):
        return "regression", f"{name} holds non-integer numbers"
    n_unique = len(np.unique(values))
    if n_unique <= 2:
        return "classification", f"{name} holds {n_unique} distinct integers"
    if n_unique <= _MAX_CLASSES and n_unique <= 0.05 * len(values):
        return "classification", (
            f"{name} holds {n_unique} distinct integers (at most {_MAX_CLASSES} and at most 5% "
            "of the rows)"
        )
    return "regression", f"{name} holds {n_unique} distinct integers in {len(values)} rows"


def check_target(y: pd.Series, task: str, path: Any) -> pd.Series:
    """Check a target for its task; returns it ready for the estimator (labels or floats)."""
    name = str(y.name)
    if task == "classification":
        if _is_numeric(y):
            values = y.to_numpy(dtype=np.float64)
            if np.all(values == np.round(values)):
                y = y.astype(np.int64)
        else:
            y = pd.Series(_category_strings(y), name=y.name)
        classes = pd.unique(y)
        if len(classes) < 2:
            only = classes[0].item() if hasattr(classes[0], "item") else classes[0]
            raise DataError(
                f"the target {name!r} of '{path}' has a single class ({only!r}); "
                "classification needs at least two"
            )
        return y
    if not _is_numeric(y):
        example = next((v for v in y if pd.isna(pd.to_numeric(v, errors="coerce"))), y.iloc[0])
        raise DataError(
            f"regression needs a numeric target, but {name!r} of '{path}' holds {example!r}"
        )
    y = y.astype(np.float64)
    if not np.isfinite(y.to_numpy()).all():
        raise DataError(f"the target {name!r} of '{path}' holds an infinite value")
    return y


def train_validation_split(
    y: Any, fraction: float, task: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)``, stratified for classification.

    Classes with a single row stay in the training part, so every validation label is
    known to the model.
    """
    from sklearn.model_selection import train_test_split

    n = len(y)
    idx = np.arange(n)
    if fraction <= 0:
        return idx, idx[:0]
    n_val = max(1, round(fraction * n))
    if n - n_val < 1:
        raise DataError(f"--validation {fraction} leaves no training rows out of {n}")
    labels = np.asarray(y)
    if task == "classification":
        _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
        single = counts[inverse] < 2
        rest = idx[~single]
        n_classes = int((counts >= 2).sum())
        if rest.size and n_val >= n_classes and rest.size - n_val >= n_classes:
            tr, va = train_test_split(
                rest, test_size=n_val, random_state=seed, stratify=labels[rest].astype(str)
            )
            return np.sort(np.concatenate([tr, idx[single]])), np.sort(va)
    tr, va = train_test_split(idx, test_size=n_val, random_state=seed)
    if task == "classification":  # move validation rows of classes unseen in training
        seen = set(labels[tr].tolist())
        unseen = np.array([labels[i] not in seen for i in va], dtype=bool)
        tr, va = np.concatenate([tr, va[unseen]]), va[~unseen]
    return np.sort(tr), np.sort(va)


# ---------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------
def _category_strings(s: pd.Series) -> np.ndarray:
    """A column's values as stripped strings (integral floats without ``.0``), NaN where
    missing."""
    present = s.notna().to_numpy()
    out = np.full(len(s), np.nan, dtype=object)
    if not present.any():
        return out
    if _is_text(s) and all(isinstance(v, str) for v in s[present].head(1000)):
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


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float64; text that is not a number is an error."""
    if _is_numeric(s):
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
        numeric = [c for c in frame.columns if _is_numeric(frame[c]) and c not in categorical]
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
        data.update({c: _category_strings(frame[c]) for c in self.categorical})
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


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------
def fit_estimator(
    est: Any,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Fit an estimator, writing checkpoints, or continue the run of a checkpoint.

    Parameters
    ----------
    est : MLPClassifier or MLPRegressor
        ``max_iter`` is the total number of epochs of the run, a resumed one included.
    X, y, X_val, y_val : ndarray
        The same data as the run that wrote ``resume``, for an exact continuation.
    callbacks : sequence of Callback
    checkpoint : path, optional
        Write a checkpoint there every ``checkpoint_every`` epochs and at the end
        (:class:`deltaprop.io.checkpoints.Checkpoint`; only rank 0 writes under MPI).
    resume : path, optional
        A checkpoint of a run of the same estimator on the same data: the weights,
        optimizer, schedule, random generators and history are restored and training
        continues up to ``max_iter`` epochs in all.

    Returns
    -------
    dict
        ``{"resumed_from_epoch": int or None, "epochs": int}``.

    Raises
    ------
    DataError
        If the checkpoint has already reached ``max_iter`` epochs.
    deltaprop.io.persistence.ModelFileError
        For a file that is not a checkpoint of this estimator's network.
    """
    from deltaprop.io import Checkpoint, ModelFileError
    from deltaprop.train import DivergenceError

    inner = list(callbacks)
    if checkpoint is not None:
        inner.append(Checkpoint(checkpoint, every=checkpoint_every))
    est.set_params(callbacks=inner, warm_start=False)
    validation = {} if X_val is None or len(X_val) == 0 else {"X_val": X_val, "y_val": y_val}
    if resume is None:
        est.fit(X, y, **validation)
        return {"resumed_from_epoch": None, "epochs": len(est.loss_curve_)}

    try:
        est.fit(X, y, resume_from=resume, **validation)
    except (DivergenceError, ModelFileError):
        raise
    except ValueError as exc:  # a checkpoint that does not fit this run is the user's input
        raise DataError(str(exc).replace("raise max_iter", "raise --epochs")) from None
    done = len(est.loss_curve_) - est.n_iter_
    return {"resumed_from_epoch": done, "epochs": len(est.loss_curve_)}


# ---------------------------------------------------------------------------------------
# Prediction and metrics
# ---------------------------------------------------------------------------------------
def align_labels(y: Any, classes: np.ndarray) -> np.ndarray:
    """Target labels read from a file, in the type of the model's ``classes_``."""
    s = pd.Series(y)
    if classes.dtype.kind in "iu" and _is_numeric(s):
        values = s.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    if classes.dtype.kind == "f" and _is_numeric(s):
        return s.to_numpy(dtype=np.float64)
    if classes.dtype.kind == "b":
        return s.astype(bool).to_numpy()
    return _category_strings(s).astype(str)


def predict_table(
    est: Any, X: np.ndarray, target_scaler: TargetScaler | None = None
) -> pd.DataFrame:
    """Predictions as a table: ``prediction``, and ``proba_<class>`` for classifiers."""
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        classes = np.asarray(est.classes_)
        out = {"prediction": est.predict(X)}
        out.update({f"proba_{c}": proba[:, k] for k, c in enumerate(classes)})
        return pd.DataFrame(out)
    pred = est.predict(X)
    if target_scaler is not None:
        pred = target_scaler.inverse(pred)
    if pred.ndim == 2:
        return pd.DataFrame({f"prediction_{k}": pred[:, k] for k in range(pred.shape[1])})
    return pd.DataFrame({"prediction": pred})


def metrics(
    est: Any, X: np.ndarray, y: Any, target_scaler: TargetScaler | None = None
) -> dict[str, float]:
    """Accuracy, log-loss and macro F1 for a classifier; R², MAE and RMSE for a regressor.

    The log-loss is NaN when ``y`` holds labels the model does not know.
    """
    from sklearn import metrics as skm

    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        pred = est.predict(X)
        y = np.asarray(y)
        known = bool(np.isin(y, est.classes_).all())
        return {
            "accuracy": float(skm.accuracy_score(y, pred)),
            "log_loss": float(skm.log_loss(y, proba, labels=est.classes_)) if known else math.nan,
            "f1_macro": float(skm.f1_score(y, pred, average="macro", zero_division=0)),
        }
    pred = est.predict(X)
    if target_scaler is not None:
        pred = target_scaler.inverse(pred)
    y = np.asarray(y, dtype=np.float64)
    return {
        "r2": float(skm.r2_score(y, pred)) if len(y) > 1 else math.nan,
        "mae": float(skm.mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
    }
