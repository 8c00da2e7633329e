"""Reading tables for the ``deltaprop`` command.

:func:`read_table` reads CSV (``.csv``, ``.tsv``, ``.txt``, with :func:`pandas.read_csv`),
Parquet (``.parquet``, ``.pq``; only if ``pyarrow`` is installed) and NumPy ``.npz`` files
(either an ``X`` matrix, optionally ``feature_names``, plus 1-D arrays such as ``y``, or only
1-D arrays of one length, each a column; loaded with ``allow_pickle=False``). Every problem
raises :class:`~deltaprop.app.errors.DataError` with one line that names the file and what
is wrong. Under MPI (``comm``), the ranks parse a ``.csv``/``.tsv`` file's lines in shares
and exchange them (:mod:`deltaprop.app.csv_shards`); every rank gets the table of a
one-process read.

A text column whose non-missing values are *mostly* numbers (at least half of them parse)
but not all is taken for a numeric column with a typo, not for categories: reading fails
and names the column, the first bad value and its row, and how to proceed (fix the value,
declare it missing with ``na_values``, or declare the column categorical). A text column in
which every value parses is converted to numbers.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deltaprop.app.columns import is_text
from deltaprop.app.csv_text import check_csv_head, check_readable, parse_csv
from deltaprop.app.errors import DataError, not_a_number, shown

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = [
    "check_numeric_text",
    "did_you_mean",
    "is_csv",
    "no_column_message",
    "number_format_hint",
    "read_table",
    "separator_hint",
    "table_stem",
]

_CSV = {".csv": ",", ".tsv": "\t", ".txt": None}
_PARQUET = {".parquet", ".pq"}


def read_table(
    path: str | os.PathLike[str],
    *,
    na_values: Sequence[str] = (),
    categorical: Sequence[str] = (),
    parse_numbers: bool = True,
    comm: MPICommunicator | None = None,
    decimal: str = ".",
    thousands: str | None = None,
) -> pd.DataFrame:
    """Read a data file into a DataFrame, with a clear error for every problem.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv``, ``.txt`` (delimiter sniffed), ``.parquet``/``.pq`` or
        ``.npz`` file, or a directory of Parquet parts or ``.npy`` arrays as ``deltaprop
        train`` streams it (read whole here, the parts in the order of the name).
    na_values : sequence of str, default=()
        Extra strings that mean "missing", besides pandas' defaults (empty, ``NA``,
        ``NaN``, ``null``, ...).
    categorical : sequence of str, default=()
        Columns that are categories even if they hold numbers; they skip the check for
        numbers mixed with text. Each must exist.
    parse_numbers : bool, default=True
        Apply :func:`check_numeric_text`. A fitted
        :class:`~deltaprop.app.preprocessing.Preprocessor` checks the columns it knows to be
        numeric itself, so reading data for a trained model skips this.
    comm : MPICommunicator, optional
        Under MPI the ranks of ``comm`` read a ``.csv`` or ``.tsv`` file together: each
        parses its share of the lines and every rank receives the whole table
        (:func:`deltaprop.app.csv_shards.read_csv`); a file that cannot be cut safely (one with
        a ``"``, for instance) is read whole by every rank. Call it on every rank of
        ``comm``. The table is the one-process table either way.
    decimal, thousands : str, optional
        The decimal mark and the thousands separator of a CSV file's numbers
        (:func:`pandas.read_csv`'s options; ``--decimal``, ``--thousands``).

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
    if table_stem(path) != path.stem:  # .csv.gz, .tsv.gz, .txt.gz
        suffix = Path(path.stem).suffix.lower() + ".gz"
    frame, sep = None, _CSV.get(suffix)  # (a .gz is read whole by every rank)
    numbers = {"decimal": decimal, **({} if thousands is None else {"thousands": thousands})}
    if thousands is not None and thousands == decimal:  # pandas would read 5.1 as 51
        raise DataError(
            f"--thousands {thousands!r} is also the decimal mark (--decimal {decimal!r}): "
            f"5{decimal}1 would read as 51; a table of 2.960,5 needs --decimal ',' --thousands '.'"
        )
    if comm is not None and comm.size > 1 and sep is not None and numbers == {"decimal": "."}:
        from deltaprop.app import csv_shards  # checks the path too, on every rank together

        frame = csv_shards.read_csv(path, sep, list(na_values), comm)
    if frame is None and path.is_dir() and _holds_parts(path):
        frame = _read_directory(path)
    if frame is None:
        frame = _read_file(path, suffix, list(na_values), numbers)
    if frame.shape[1] == 0:
        raise DataError(f"'{path}' is empty: no columns")
    if frame.shape[0] == 0:
        raise DataError(f"'{path}' has no data rows (only a header)")
    frame.columns = [str(c) for c in frame.columns]
    if na_values and suffix not in _CSV:
        frame = frame.replace(list(na_values), np.nan)
    if suffix.endswith(".gz"):
        suffix = suffix[:-3]
    missing = sorted(set(categorical) - set(frame.columns))
    if missing:
        raise DataError(no_column_message(missing[0], frame.columns, path, "--categorical"))
    if not parse_numbers:
        return frame
    return check_numeric_text(frame, path, skip=categorical, line_offset=2 if suffix in _CSV else 1)


def table_stem(path: Path) -> str:
    """The name of a table without its suffix, or suffixes when compressed (``a.csv.gz``:
    ``a``), as :func:`read_table` reads them: ``deltaprop train``'s default ``runs/<stem>``."""
    if path.suffix.lower() == ".gz" and Path(path.stem).suffix.lower() in _CSV:
        return Path(path.stem).stem
    return path.stem


def is_csv(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`read_table` reads ``path`` as CSV text (a header on line 1), perhaps
    gzip-compressed."""
    name = Path(path).name.lower()
    return any(name.endswith(s) or name.endswith(s + ".gz") for s in _CSV)


def _holds_parts(path: Path) -> bool:
    """Whether the directory ``path`` holds the parts of a table that ``deltaprop train``
    streams (``.parquet``, ``.pq`` or ``.npy`` files); another is not a data file."""
    return any(p.suffix.lower() in (*_PARQUET, ".npy") for p in path.iterdir())


def _read_directory(path: Path) -> pd.DataFrame:
    """A directory that ``deltaprop train`` streams (Parquet parts, ``.npy`` arrays), read
    whole: its rows in the order the training run reads them
    (:func:`deltaprop.app.stream_sources.open_source`), numbered from 0."""
    from deltaprop.app.stream_sources import open_source

    chunks = list(open_source(path, na_values=[]).chunks())
    if not chunks:
        raise DataError(f"'{path}' has no data rows")
    return pd.concat(chunks, ignore_index=True)


def _read_file(
    path: Path, suffix: str, na_values: list[str], numbers: dict[str, str]
) -> pd.DataFrame:
    check_readable(path)
    if suffix in _CSV:
        check_csv_head(path)
        return parse_csv(path, path, _CSV[suffix], na_values, **numbers)
    if suffix.endswith(".gz") and suffix[:-3] in _CSV:
        return _read_gzip(path, _CSV[suffix[:-3]], na_values, numbers)
    if suffix in _PARQUET:
        return _read_parquet(path)
    if suffix == ".npz":
        return _read_npz(path)
    raise DataError(
        f"cannot read '{path}': unsupported file type {suffix or '(no extension)'!r}; "
        "use .csv, .tsv, .txt (separator sniffed), one of them compressed (.csv.gz), "
        ".parquet (with pyarrow installed) or .npz"
    )


def _read_gzip(
    path: Path, sep: str | None, na_values: list[str], numbers: dict[str, str]
) -> pd.DataFrame:
    """A gzip-compressed CSV file, decompressed in memory, then read as :func:`_read_csv`."""
    import gzip
    import io

    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read '{path}' as gzip-compressed CSV: {exc}") from None
    if not data.strip():
        raise DataError(f"'{path}' is empty")
    if b"\x00" in data[:8192]:
        raise DataError(f"'{path}' holds a binary file, not CSV text")
    return parse_csv(io.BytesIO(data), path, sep, na_values, **numbers)


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


def _check_npz_sizes(path: Path) -> None:
    """Check each member's declared shape against the bytes it holds, from the ``.npy``
    headers alone, before ``np.load`` allocates anything."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in ((1, 0), (2, 0)):
                        continue  # format 3.0: left to np.load
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(member)
                    header = member.tell()
                if dtype.hasobject:
                    continue  # refused by np.load(allow_pickle=False), with its own message
                declared = dtype.itemsize * math.prod(shape)
                if declared != info.file_size - header:
                    raise DataError(
                        f"'{path}': array {info.filename[:-4]!r} declares shape {shape} of "
                        f"{dtype} ({declared:,} bytes) but holds {info.file_size - header:,}"
                    )
    except DataError:
        raise
    except Exception:  # a damaged archive or header: np.load says what it can
        return


def _read_npz(path: Path) -> pd.DataFrame:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataError(f"'{path}' is not a valid .npz file (not a zip archive)")
    _check_npz_sizes(path)
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
    except MemoryError:
        raise DataError(f"'{path}' holds more data than this process can allocate") from None
    except Exception:  # zipfile.BadZipFile and friends
        raise DataError(f"'{path}' is not a valid .npz file (a damaged zip archive)") from None
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
    left = set(skip)  # the text columns by their dtypes: a Series per column costs ~0.1 ms
    text = [name for name, dtype in frame.dtypes.items() if name not in left and is_text(dtype)]
    frame = frame.copy() if text else frame
    for name in text:
        col = frame[name]
        present = col.notna().to_numpy()
        parsed = pd.to_numeric(col[present].astype(str).str.strip(), errors="coerce")
        ok = parsed.notna().to_numpy()
        if ok.all():
            values = np.full(len(col), np.nan)
            values[present] = parsed.to_numpy(dtype=np.float64)
            frame[name] = values
            continue
        hint = number_format_hint(col[present])
        if hint is not None:
            first = col[present].iloc[int(np.flatnonzero(~ok)[0])]
            raise DataError(
                f"column {name!r} of '{path}' holds text such as {shown(first)}: {hint}, "
                f"or make it categorical with --categorical {name!r}"
            )
        if ok.mean() < 0.5:
            continue  # mostly text: a categorical column
        bad = np.flatnonzero(present)[~ok]
        line = int(bad[0]) + 2 if line_offset == 2 else None
        raise not_a_number(name, path, int(bad[0]), line, str(col.iloc[bad[0]]), len(bad))
    return frame


_DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+|)(,\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})*(\.\d*)?")


def number_format_hint(values: pd.Series) -> str | None:
    """How to read text values that are all numbers written with a decimal comma (``5,1``)
    or with thousands separators (``2,960.5``), or None if they are not.

    >>> number_format_hint(pd.Series(["5,1", "4,9"]))
    "numbers with a decimal comma? Read them with --decimal ','"
    """
    text = values.astype(str).str.strip()
    if len(text) == 0 or not text.str.contains(",", regex=False).any():
        return None
    thousands = bool(text.str.fullmatch(_THOUSANDS).all())
    decimal = bool(text.str.fullmatch(_DECIMAL_COMMA).all())
    if thousands and decimal:
        return (
            "numbers with thousands separators or a decimal comma? Read them with "
            "--thousands ',' or --decimal ','"
        )
    if thousands:
        return "numbers with thousands separators? Read them with --thousands ','"
    if decimal:
        return "numbers with a decimal comma? Read them with --decimal ','" + (
            " --thousands '.'" if text.str.contains(".", regex=False).any() else ""
        )
    return None


def no_column_message(name: str, columns: Any, path: Any, option: str) -> str:
    """``"--target 'x': no such column in 'f.csv' (columns: ...); did you mean 'X'?"``."""
    cols = [str(c) for c in columns]
    hint = did_you_mean(name, cols) + separator_hint(cols)
    shown = ", ".join(cols[:12]) + (f", ... ({len(cols)} columns)" if len(cols) > 12 else "")
    return f"{option} {name!r}: no such column in '{path}' (columns: {shown}){hint}"


def did_you_mean(name: str, columns: Sequence[str]) -> str:
    """``"; did you mean 'X'?"`` for the column ``name`` most likely meant, or ``""``."""
    close = _closest_column(name, columns)
    return f"; did you mean {close!r}?" if close is not None else ""


def separator_hint(columns: Sequence[str]) -> str:
    """``"; the header looks separated by ';' ..."`` when a table read as one column has a
    name holding a tab or a ``;`` (a file named ``.csv`` but not comma-separated), or ``""``."""
    if len(columns) != 1:
        return ""
    for sep, name in (("\t", "tab"), (";", "';'")):
        if sep in columns[0]:
            return (
                f"; the header looks separated by {name}, not commas: name the file .txt "
                "(the separator is sniffed)" + (" or .tsv" if sep == "\t" else "")
            )
    return ""


def _closest_column(name: str, columns: Sequence[str]) -> str | None:
    """The column ``name`` most likely meant: the same name in another case (``ID`` for
    ``id``), else the closest by :func:`difflib.get_close_matches` ignoring case."""
    lowered: dict[str, str] = {}
    for c in columns:
        lowered.setdefault(c.lower(), c)
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None
