"""Reading CSV text with the options of :func:`deltaprop.app.tables.read_table`.

The checks and the parsing that the one-process read (:mod:`deltaprop.app.tables`) and the
read shared by MPI ranks (:mod:`deltaprop.app.csv_shards`) both use, so that they read a
file alike and fail with the same messages.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deltaprop.app.errors import CSVSyntaxError, DataError

__all__ = [
    "check_csv_head",
    "check_readable",
    "check_unique_names",
    "first_error",
    "parse_csv",
    "short_row",
    "short_row_message",
    "short_row_of_file",
    "sniffed_separator",
]


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
    arguments (``nrows``, ``header``, ``names``, ``chunksize``). Every pandas error becomes a
    :class:`~deltaprop.app.errors.DataError`. A whole read (a path or a ``BytesIO``, no
    ``nrows`` or ``chunksize``) also refuses a row with fewer or more fields than the
    header, or than ``names`` (:func:`short_row`), even where the extra fields are empty
    (pandas would drop those silently in a whole read, and refuse them in a read by
    chunks); the first such row in the file is reported. ``sep=None`` sniffs the separator
    from the first line, as pandas does. A UTF-8 byte order mark is dropped; the first
    column is never taken for the row labels (``index_col=False``).
    """
    short = None
    if not {"nrows", "chunksize"} & set(options):
        data = _bytes_of(source, path)
        names = options.get("names")
        known = sep if sep is not None else sniffed_separator(data)
        if known is not None:
            short = short_row(data, known, None if names is None else len(names))
    try:
        engine: dict[str, Any] = (  # the C engine drops a byte order mark itself; and it
            {"engine": "python", "encoding": "utf-8-sig"}  # decodes lazily, as nrows wants
            if sep is None
            else {"low_memory": False}
        )
        if short is not None and data.count(b"\r") == data.count(b"\r\n"):
            # refused below: only the lines before it are parsed, for an error before it
            before = b"\n".join(data.split(b"\n", short[0] - 1)[: short[0] - 1])
            if not before.strip():
                raise CSVSyntaxError(short_row_message(path, *short))
            source = io.BytesIO(before + b"\n")
        frame = pd.read_csv(
            source, sep=sep, na_values=na_values or None, skipinitialspace=True,
            index_col=False, **engine, **options,
        )  # fmt: skip
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise first_error(exc, path, short) from None
    if short is not None:
        raise CSVSyntaxError(short_row_message(path, *short))
    if not {"nrows", "chunksize", "names", "header"} & set(options) and known is not None:
        check_unique_names(data, known, path)
    return frame


def check_unique_names(data: bytes, sep: str, path: Path) -> None:
    """Refuse a header that names a column twice (pandas would rename the second ``y.1``,
    and a ``--target y`` would then leave the other ``y`` among the inputs).

    Raises
    ------
    DataError
        Naming the column and its places (1-based).
    """
    line = re.split(rb"\r\n|\n|\r", data.lstrip(b"\xef\xbb\xbf"), maxsplit=1)[0]
    try:  # (a quoted line break in a name: pandas has read the header, no check here)
        names = next(csv.reader([line.decode("utf-8", "replace")], delimiter=sep), [])
    except csv.Error:
        return
    names = [n.strip() for n in names]
    counts = Counter(names)
    for name in (n for n in names if n and counts[n] > 1):
        places = ", ".join(str(i + 1) for i, n in enumerate(names) if n == name)
        raise DataError(
            f"'{path}' names the column {name!r} more than once (columns {places} of its "
            "header): give each column its own name"
        )


def first_error(exc: Exception, path: Path, short: tuple[int, int, int] | None) -> DataError:
    """The :class:`~deltaprop.app.errors.DataError` of a pandas read's error ``exc``, or of
    the row ``short`` (:func:`short_row`) with too few fields if that comes first: a
    malformed row first, in file order, then a byte that is not UTF-8."""
    if isinstance(exc, pd.errors.EmptyDataError):
        return DataError(f"'{path}' is empty")
    if isinstance(exc, pd.errors.ParserError):
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "malformed CSV"
        found = _LINE.search(first)
        if short is not None and (found is None or short[0] <= int(found.group(1))):
            return CSVSyntaxError(short_row_message(path, *short))
        return CSVSyntaxError(f"cannot parse '{path}' as CSV: {first}")
    if short is not None:
        return CSVSyntaxError(short_row_message(path, *short))
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"'{path}' is not a UTF-8 text file; save it as UTF-8 CSV")
    if isinstance(exc, OSError):
        return DataError(f"cannot read '{path}': {exc.strerror or exc}")
    raise exc


def _bytes_of(source: Any, path: Path) -> bytes:
    if isinstance(source, io.BytesIO):
        return source.getvalue()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None


_LINE = re.compile(r"\bline (\d+)")
_BLANK = b" \t\r\n"


def sniffed_separator(data: bytes) -> str | None:
    """The separator :func:`pandas.read_csv` with ``sep=None`` finds (:class:`csv.Sniffer`
    of the first line), or None if it finds none."""
    first = data.split(b"\n", 1)[0].decode("utf-8-sig", "replace")
    try:
        return csv.Sniffer().sniff(first).delimiter
    except csv.Error:
        return None


def short_row_message(path: Path, line: int, expected: int, seen: int) -> str:
    """The error of a row with too few or too many fields (``line`` counted in the file)."""
    why = (
        "a row with fields missing at its end; an empty field, as in a,,b, is a missing value"
        if seen < expected
        else "a row with more fields than the header names: a separator at its end, or a "
        "field holding the separator unquoted? Remove it, or name the field in the header"
        if expected > 1
        else "the header has one field: if the file is separated by ';' or tabs, name it "
        ".txt (the separator is sniffed)"
    )
    return (
        f"cannot parse '{path}' as CSV: Expected {expected} fields in line {line}, saw {seen} "
        f"({why})"
    )


def short_row(data: bytes, sep: str, n_fields: int | None) -> tuple[int, int, int] | None:
    """The first row of CSV text with fewer or more than ``n_fields`` fields, or None.

    Lines of only whitespace are left out (pandas skips blank lines). A field may be
    quoted and hold a separator or a line break, as in :func:`pandas.read_csv`.

    Parameters
    ----------
    data : bytes
        Whole lines of CSV text.
    sep : str
        The separator, one character.
    n_fields : int or None
        The fields each row must have; None: as many as the first line that is not blank
        (the header).

    Returns
    -------
    tuple of int or None
        ``(line, expected, seen)``: the row's line in ``data`` (the first line is 1), the
        fields expected and the fields seen.
    """
    if b'"' in data or data.count(b"\r") != data.count(b"\r\n"):
        # a quote or a line that ends in a lone \r: the csv module counts the fields
        text = io.StringIO(data.decode("utf-8", "replace"), newline="")
        return _short_quoted(text, sep, n_fields)
    if n_fields is None:
        header = next((ln for ln in io.BytesIO(data) if ln.strip(_BLANK)), None)
        if header is None:
            return None
        n_fields = header.count(sep.encode()) + 1
    line, at = 1, 0
    while at < len(data):  # in blocks of whole lines: a bounded memory
        stop = data.find(b"\n", at + _SCAN) + 1 or len(data)
        found = _short_plain(data[at:stop], sep, n_fields)
        if found is not None:
            return found[0] + line - 1, n_fields, found[1]
        line += data.count(b"\n", at, stop)
        at = stop
    return None


_SCAN = 1 << 22


def _short_plain(data: bytes, sep: str, n_fields: int) -> tuple[int, int] | None:
    """``(line, fields)`` of the first line of ``data`` (no quotes) with another number
    than ``n_fields`` of fields and more than whitespace."""
    buf = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(buf)]])
    seps = np.flatnonzero(buf == ord(sep))
    counts = np.searchsorted(seps, stops) - np.searchsorted(seps, starts) + 1
    blank = _BLANK.replace(sep.encode(), b"")  # a line of separators is a row of fields
    for i in np.flatnonzero(counts != n_fields):
        if data[starts[i] : stops[i]].strip(blank):
            return int(i) + 1, int(counts[i])
    return None


def short_row_of_file(path: Path, sep: str, n_fields: int) -> tuple[int, int, int] | None:
    """:func:`short_row` of a whole file, read as a stream (for one too large to hold)."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return _short_quoted(f, sep, n_fields)
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None


def _short_quoted(
    lines: Iterable[str], sep: str, n_fields: int | None
) -> tuple[int, int, int] | None:
    reader = csv.reader(lines, delimiter=sep, skipinitialspace=True)
    line = 1
    for row in reader:
        blank = len(row) <= 1 and not "".join(row).strip()
        if n_fields is None and not blank:  # the header
            n_fields = len(row)
        elif n_fields is not None and len(row) != n_fields and not blank:
            return line, n_fields, len(row)
        line = reader.line_num + 1
    return None
