"""Reading CSV text with the options of :func:`deltaprop.app.tables.read_table`.

The checks and the parsing that the one-process read (:mod:`deltaprop.app.tables`) and the
read shared by MPI ranks (:mod:`deltaprop.app.csv_shards`) both use, so that they read a
file alike and fail with the same messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from deltaprop.app.errors import CSVSyntaxError, DataError

__all__ = ["check_csv_head", "check_readable", "parse_csv"]


def check_readable(path: Path) -> None:
    """Fail on a path that is missing, a directory or unreadable."""
    if not path.exists():
        raise DataError(f"no such file: '{path}'")
    if path.is_dir():
        raise DataError(f"'{path}' is a directory, not a data file")
    if not path.is_file():  # a FIFO would block the read, a device never ends
        raise DataError(f"'{path}' is not a regular file (a pipe, device or socket)")
    if not os.access(path, os.R_OK):
        raise DataError(f"cannot read '{path}': permission denied")


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
    """:func:`pandas.read_csv` of ``source`` with the reading options of
    :func:`deltaprop.app.tables.read_table`.

    ``path`` names the file in messages; ``options`` are further :func:`pandas.read_csv`
    arguments (``nrows``, ``header``, ``names``). Every pandas error becomes a
    :class:`~deltaprop.app.errors.DataError`.
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
