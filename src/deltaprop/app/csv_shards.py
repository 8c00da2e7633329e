"""Reading a CSV file under MPI: each rank parses its share of the lines.

:func:`read_csv` is what :func:`deltaprop.app.tables.read_table` does with a communicator of
several ranks. The bytes after the header line are cut into one range per rank
(:func:`byte_range`); a rank owns the lines that *start* in its range, so every line
belongs to exactly one rank. Each rank parses its lines with the options of a one-process
read (:func:`read_piece`), one ``allgather`` hands every piece to every rank, and
:func:`merge_pieces` concatenates them in rank order into the frame that
:func:`pandas.read_csv` gives for the whole file: the same columns, dtypes and values, and
a fresh ``RangeIndex``. Memory is not divided: every rank ends with the whole table, as
replicated training needs (:mod:`deltaprop.parallel`); only the parsing is shared.

Where cutting could change the result, every rank reads the whole file instead
(:func:`read_csv` returns None on every rank alike):

- a ``"`` anywhere in the file: a quoted field may hold a line break;
- a carriage return that does not end a line, or a blank first line;
- a piece whose first row has more fields than the header (pandas would make them an
  index; the whole-file read says what that row is);
- pieces whose types disagree, except integers in one and floats in another (float64, as
  pandas makes the whole column), or a piece in which a column has only missing values.

An error reaches every rank: the pieces and the errors travel in the same ``allgather``
and every rank raises the first error in file order, its line number counted in the whole
file (the header is line 1). As in a single read, a malformed line anywhere comes before a
byte that is not UTF-8.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd

from deltaprop.app.csv_text import (
    check_csv_head,
    check_readable,
    check_unique_names,
    parse_csv,
)
from deltaprop.app.errors import CSVSyntaxError, DataError

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = [
    "byte_range",
    "in_file",
    "lines_before",
    "merge_pieces",
    "read_csv",
    "read_piece",
    "share_failure",
]

logger = logging.getLogger(__name__)

_BLOCK = 1 << 16
_LINE = re.compile(r"\bline (\d+)")
_INT_FLOAT = {np.dtype(np.int64), np.dtype(np.float64)}


# ---------------------------------------------------------------------------------------
# Cutting the file
# ---------------------------------------------------------------------------------------
def first_line(f: BinaryIO) -> bytes:
    """The first line of ``f``, with its ``\\n`` (the whole file if there is none)."""
    f.seek(0)
    parts = []
    while block := f.read(_BLOCK):
        end = block.find(b"\n")
        if end >= 0:
            parts.append(block[: end + 1])
            break
        parts.append(block)
    return b"".join(parts)


def line_start(f: BinaryIO, pos: int, begin: int, end: int) -> int:
    """The first offset ``≥ pos`` in ``[begin, end]`` at which a line starts.

    A line starts at ``begin`` and just after every ``\\n``; ``end`` if no line starts in
    ``[pos, end)``.
    """
    if pos <= begin:
        return begin
    at = pos - 1  # pos starts a line if the byte before it ends one
    f.seek(at)
    while at < end:
        block = f.read(min(_BLOCK, end - at))
        if not block:
            break
        found = block.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(block)
    return end


def byte_range(f: BinaryIO, begin: int, end: int, rank: int, size: int) -> tuple[int, int]:
    """The bytes ``[start, stop)`` of ``[begin, end)`` that hold the lines of ``rank``.

    ``[begin, end)`` is cut into ``size`` even byte ranges; rank ``r`` owns the lines that
    start in the ``r``-th range. The ranges of ranks ``0, ..., size-1`` tile
    ``[begin, end)`` in order, each made of whole lines; some may be empty.

    Examples
    --------
    >>> import io
    >>> f = io.BytesIO(b"x\\n1\\n22\\n333\\n4444\\n")  # lines start at 2, 4, 7 and 11
    >>> [byte_range(f, 2, 16, r, 3) for r in range(3)]  # cuts at 2, 6 and 11
    [(2, 7), (7, 11), (11, 16)]
    """
    n = end - begin
    return (
        line_start(f, begin + n * rank // size, begin, end),
        line_start(f, begin + n * (rank + 1) // size, begin, end),
    )


def _unsafe(chunk: bytes) -> str | None:
    """Why lines cannot be cut at ``\\n`` in ``chunk``, or None."""
    if b'"' in chunk:
        return "it holds a quote character"
    if chunk.count(b"\r") != chunk.count(b"\r\n"):
        return "it holds a carriage return inside a line"
    return None


# ---------------------------------------------------------------------------------------
# Parsing and merging
# ---------------------------------------------------------------------------------------
def read_piece(
    data: bytes,
    columns: Sequence[str],
    first: int,
    path: Path,
    sep: str,
    na_values: list[str],
) -> pd.DataFrame:
    """Parse whole CSV lines without a header as :func:`deltaprop.app.tables.read_table` would.

    Parameters
    ----------
    data : bytes
        Whole lines of the file, without the header line.
    columns : sequence of str
        The column names that pandas reads from the header.
    first : int
        The line number of the first line of ``data`` in the file (the header is line 1);
        error messages count lines from there.
    path, sep, na_values
        The file (for messages) and the reading options.

    Returns
    -------
    pandas.DataFrame
        The rows, with a ``RangeIndex`` (a row with more fields than columns is refused, as
        in the whole read: the first column is never an index).

    Raises
    ------
    DataError
        As the whole-file read raises it, with line numbers of the file.
    """
    if not data:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}, columns=columns)
    try:
        return parse_csv(io.BytesIO(data), path, sep, na_values, header=None, names=columns)
    except DataError as exc:
        raise in_file(exc, path, first) from None


def in_file(exc: DataError, path: Path, first: int) -> DataError:
    """``exc`` of a parse of some lines of ``path`` whose first is line ``first`` of the
    file (the header is line 1), its line number counted in the file."""
    prefix, message = f"cannot parse '{path}' as CSV: ", str(exc)
    if not message.startswith(prefix):
        return exc
    shifted = _LINE.sub(
        lambda m: f"line {int(m.group(1)) + first - 1}", message[len(prefix) :], count=1
    )
    return type(exc)(prefix + shifted)


def lines_before(f: BinaryIO, pos: int) -> int:
    """The number of ``\\n`` in the first ``pos`` bytes of ``f``."""
    f.seek(0)
    n = at = 0
    while at < pos and (block := f.read(min(_BLOCK << 6, pos - at))):
        n += block.count(b"\n")
        at += len(block)
    return n


def merge_pieces(
    pieces: Sequence[pd.DataFrame], columns: pd.Index | Sequence[str]
) -> pd.DataFrame | None:
    """The pieces one after another, as one read of their lines would give them.

    Empty pieces are left out. A column takes one dtype in every piece, or integers in some
    and floats in others (float64), or only missing values (float64) in some: those take
    the dtype of the others, as a single read gives a text column with missing values.

    Returns
    -------
    pandas.DataFrame or None
        With a fresh ``RangeIndex``; None where a single read could differ: other mixed
        dtypes (numbers in one piece and text in another), booleans with missing values
        (which pandas reads as objects), a piece with other columns or an index, or no
        rows at all.
    """
    full = [p for p in pieces if len(p)]
    if not full or any(
        list(p.columns) != list(columns) or not isinstance(p.index, pd.RangeIndex) for p in full
    ):
        return None
    cast: dict[str, Any] = {}
    for name in full[0].columns:
        known = {p[name].dtype for p in full if p[name].notna().any()}
        if len(known) > 1 and not known <= _INT_FLOAT:
            return None
        if len(known) == 1:
            (dtype,) = known
            if dtype.kind == "b" and any(p[name].isna().any() for p in full):
                return None
            if dtype.kind not in "iufb":
                cast[name] = dtype
    if cast:
        full = [p.astype({c: d for c, d in cast.items() if p[c].dtype != d}) for p in full]
    return pd.concat(full, ignore_index=True)


# ---------------------------------------------------------------------------------------
# The collective read
# ---------------------------------------------------------------------------------------
def _share(
    path: Path, sep: str, na_values: list[str], rank: int, size: int
) -> tuple[pd.Index, bytes, str | None]:
    """The column names, this rank's lines, and why they cannot be cut (or None)."""
    check_readable(path)
    check_csv_head(path)
    columns = parse_csv(path, path, sep, na_values, nrows=0).columns
    try:
        with open(path, "rb") as f:
            header = first_line(f)
            if not header.strip(b" \t\r\n\xef\xbb\xbf"):
                return columns, b"", "its first line is blank"
            check_unique_names(header, sep, path)  # as a whole read: pandas renames a twin
            end = f.seek(0, os.SEEK_END)
            start, stop = byte_range(f, len(header), end, rank, size)
            f.seek(start)
            data = f.read(stop - start)
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    return columns, data, _unsafe(header) or _unsafe(data)


def _failure(exc: Exception) -> tuple[str, str, str]:
    if isinstance(exc, CSVSyntaxError):
        return ("error", "syntax", str(exc))
    if isinstance(exc, DataError):
        return ("error", "data", str(exc))
    return ("error", "other", f"{type(exc).__name__}: {exc}")


def _raise_first(
    results: list[tuple[Any, ...]], rank: int, own: Exception | None, path: Path,
    syntax_first: bool = True,
) -> None:  # fmt: skip
    """Raise, on every rank, the error that a one-process read meets first: the first
    rank's, a malformed line before any other error if ``syntax_first``."""
    errors = [(r, res) for r, res in enumerate(results) if res[0] == "error"]
    if not errors:
        return
    syntax = [(r, res) for r, res in errors if res[1] == "syntax"] if syntax_first else []
    r, (_, kind, message) = (syntax or errors)[0]
    if r == rank and own is not None:
        raise own
    if kind == "other":
        raise RuntimeError(f"reading '{path}' failed on MPI rank {r}: {message}")
    raise (CSVSyntaxError if kind == "syntax" else DataError)(message)


def share_failure(comm: MPICommunicator | None, own: Exception | None, path: Path) -> None:
    """Raise on every rank of ``comm`` the error of the first rank (in rank order, i.e. in
    file order) that met one reading its share of ``path``, ``own`` on that rank; nothing
    if none did. A collective call (one ``allgather``): every rank calls it, failed or not,
    so that no rank is left waiting in a later collective."""
    if comm is None or comm.size == 1:
        if own is not None:
            raise own
        return
    shared = comm.comm.allgather(("ok",) if own is None else _failure(own))
    _raise_first(shared, comm.rank, own, path, syntax_first=False)


def read_csv(
    path: Path, sep: str, na_values: list[str], comm: MPICommunicator
) -> pd.DataFrame | None:
    """Read a CSV file on every rank of ``comm``, each rank parsing its share of the lines.

    A collective call: every rank of ``comm`` calls it with the same arguments.

    Parameters
    ----------
    path : Path
    sep : str
        The separator (``","`` or ``"\\t"``).
    na_values : list of str
        Extra strings that mean "missing".
    comm : MPICommunicator

    Returns
    -------
    pandas.DataFrame or None
        On every rank, the frame of :func:`deltaprop.app.tables.read_table`'s one-process
        read (before its checks), or None on every rank where the file cannot be cut
        safely (see the module): then each rank reads the whole file.

    Raises
    ------
    DataError
        On every rank, the error of a one-process read, if one rank's lines hold it.
    """
    rank, size = comm.rank, comm.size
    own: Exception | None = None
    try:
        columns, data, unsafe = _share(path, sep, na_values, rank, size)
        lines = data.count(b"\n") + (data[-1:] not in (b"", b"\n"))  # a last line without \n
        mine: tuple[Any, ...] = ("ok", unsafe, lines)
    except Exception as exc:
        own, mine = exc, _failure(exc)
    shares = comm.comm.allgather(mine)
    _raise_first(shares, rank, own, path)
    reasons = [s[1] for s in shares if s[1] is not None]
    if reasons:
        logger.debug("every rank reads all of '%s': %s", path, reasons[0])
        return None

    first = 2 + sum(s[2] for s in shares[:rank])
    try:
        mine = ("ok", read_piece(data, list(columns), first, path, sep, na_values))
    except Exception as exc:
        own, mine = exc, _failure(exc)
    pieces = comm.comm.allgather(mine)
    _raise_first(pieces, rank, own, path)
    frame = merge_pieces([p[1] for p in pieces], columns)
    if frame is None:
        logger.debug("every rank reads all of '%s': the pieces' types disagree", path)
        return None
    rows = len(pieces[rank][1])
    logger.debug(
        "rank %d of %d parsed %d lines of '%s' from line %d (%d of its %d rows)",
        rank, size, lines, path, first, rows, len(frame),
        extra={"csv_share": {"rank": rank, "first_line": first, "lines": lines, "rows": rows,
                             "total_rows": len(frame)}},
    )  # fmt: skip
    return frame
