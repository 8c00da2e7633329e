"""Out-of-core inputs of ``deltaprop train``: a table read in chunks, each rank its share.

:func:`open_source` recognizes three kinds of input (:func:`is_streamed` says which paths
take the streamed path):

- a directory of Parquet files (``*.parquet``, ``*.pq``, sorted by name): rank ``r`` of
  ``N`` reads its contiguous share (:func:`deltaprop.parallel.even_share`) of the list of
  all files' row groups, in file order;
- a memory-mapped ``.npy``: a directory with ``X.npy`` (2-D, columns ``x0, x1, ...``) and
  one 1-D ``.npy`` per further column (``y.npy`` for ``--target y``), or a single 2-D
  ``.npy`` file (columns ``x0, x1, ...``; the target is one of them); rank ``r`` maps only
  its contiguous slice of rows (:func:`deltaprop.parallel.even_share`);
- a CSV file of at least :data:`STREAM_CSV_BYTES`: rank ``r`` parses the lines that start
  in its even byte range (:func:`deltaprop.app.csv_shards.byte_range`) in blocks of
  :data:`CSV_BLOCK_BYTES`. A file with a ``"`` cannot be cut at line ends (a quoted field
  may hold a line break): then every rank parses it with ``pandas.read_csv(chunksize=)``
  and keeps only its even share of the rows.

Each source yields ``pandas.DataFrame`` chunks of the rank's rows in file order; the rank's
rows are consecutive in the file, and ranks ``0, 1, ...`` hold the file's rows in order.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from deltaprop.app.csv_text import (
    check_csv_head,
    check_readable,
    check_unique_names,
    first_error,
    parse_csv,
    short_row_message,
    short_row_of_file,
)
from deltaprop.app.errors import CSVSyntaxError, DataError

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = [
    "CSV_BLOCK_BYTES",
    "STREAM_CSV_BYTES",
    "ChunkSource",
    "is_streamed",
    "open_source",
]

STREAM_CSV_BYTES = 64 << 20
"""A CSV file of at least this many bytes is read in chunks (the streamed path)."""

CSV_BLOCK_BYTES = 2 << 20
"""The bytes of CSV text parsed at a time."""

HEAD_ROWS = 10_000
"""A large CSV's column kinds (numbers or categories) are decided from its first rows."""

NPY_BLOCK_ROWS = 1 << 14
"""The rows of a memory map converted at a time."""

_PARQUET = (".parquet", ".pq")


def is_streamed(path: Path) -> bool:
    """Whether ``deltaprop train`` reads ``path`` in chunks: a directory, a ``.npy`` file, or
    a ``.csv``/``.tsv`` of at least :data:`STREAM_CSV_BYTES`."""
    if path.is_dir() or path.suffix.lower() == ".npy":
        return True
    return (
        path.suffix.lower() in (".csv", ".tsv")
        and path.is_file()
        and path.stat().st_size >= STREAM_CSV_BYTES
    )


class ChunkSource:
    """The column names of a table and the chunks of one rank's rows.

    Attributes
    ----------
    columns : list of str
    path : Path
    """

    text_columns: tuple[str, ...] = ()
    """Columns that a CSV source parses as text (the categories); set before reading."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns

    def chunks(self) -> Iterator[pd.DataFrame]:  # pragma: no cover - overridden
        raise NotImplementedError

    def head(self) -> pd.DataFrame:  # pragma: no cover - overridden
        """The table's first rows (the same on every rank), read as a one-process read
        reads them: the column kinds are decided from them."""
        raise NotImplementedError


class _Parquet(ChunkSource):
    def __init__(self, path: Path, files: list[Path], rank: int, size: int) -> None:
        from deltaprop.data import open_parts

        try:
            metas = open_parts([str(f) for f in files])  # the one rule for a table's parts
        except ValueError as exc:
            raise DataError(str(exc)) from None
        names = metas[0].schema_arrow.names
        groups = [
            (f, g) for f, m in zip(files, metas, strict=True) for g in range(m.num_row_groups)
        ]
        from deltaprop.parallel import even_share

        self._groups = groups[even_share(len(groups), rank, size)]
        self._first = files[0]
        super().__init__(path, [str(c) for c in names])

    def head(self) -> pd.DataFrame:
        import pyarrow.parquet as pq

        return pq.ParquetFile(self._first).read_row_group(0, columns=self.columns).to_pandas()

    def chunks(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for f, g in self._groups:  # in batches: arrow's pool keeps what it allocated
            for batch in pq.ParquetFile(f).iter_batches(
                batch_size=NPY_BLOCK_ROWS,
                row_groups=[g],
                columns=self.columns,
                use_threads=False,
            ):
                yield batch.to_pandas()
            pa.default_memory_pool().release_unused()


class _Npy(ChunkSource):
    def __init__(self, path: Path, arrays: dict[str, Path], rank: int, size: int) -> None:
        from deltaprop.data import open_npy
        from deltaprop.parallel import even_share

        maps: dict[str, np.ndarray] = {}
        for name, file in arrays.items():
            try:
                maps[name] = open_npy(file)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        lengths = {n: len(a) for n, a in maps.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"'{path}': the arrays have different numbers of rows: {lengths}")
        columns: list[str] = []
        self._maps: list[tuple[np.ndarray, int | None]] = []
        for name, a in maps.items():
            if a.ndim == 2 and name == "X":
                columns += [f"x{j}" for j in range(a.shape[1])]
                self._maps += [(a, j) for j in range(a.shape[1])]
            elif a.ndim == 1:
                columns.append(name)
                self._maps.append((a, None))
            else:
                raise DataError(
                    f"'{arrays[name]}' must be 1-D (one column), or be the 2-D X.npy; "
                    f"got shape {a.shape}"
                )
        self._rows = even_share(next(iter(lengths.values())), rank, size)
        super().__init__(path, columns)

    def head(self) -> pd.DataFrame:
        return pd.DataFrame(
            {c: np.asarray(a[:1000] if k is None else a[:1000, k])
             for c, (a, k) in zip(self.columns, self._maps, strict=True)},
            columns=self.columns,
        )  # fmt: skip

    def chunks(self) -> Iterator[pd.DataFrame]:
        start, stop = self._rows.start, self._rows.stop
        for i in range(start, stop, NPY_BLOCK_ROWS):
            j = min(i + NPY_BLOCK_ROWS, stop)
            data = {
                c: np.asarray(a[i:j] if k is None else a[i:j, k])
                for c, (a, k) in zip(self.columns, self._maps, strict=True)
            }
            yield pd.DataFrame(data, columns=self.columns)


class _Csv(ChunkSource):
    def __init__(
        self, path: Path, sep: str, na_values: list[str], comm: MPICommunicator | None
    ) -> None:
        from deltaprop.app.csv_shards import byte_range, first_line

        check_readable(path)
        check_csv_head(path)
        self._sep, self._na = sep, na_values
        self._rank, self._size = (0, 1) if comm is None else (comm.rank, comm.size)
        columns = parse_csv(path, path, sep, na_values, nrows=0).columns
        with open(path, "rb") as f:
            header = first_line(f)
            check_unique_names(header, sep, path)  # as an in-memory read refuses it
            end = f.seek(0, os.SEEK_END)
            self._range = byte_range(f, len(header), end, self._rank, self._size)
            quoted = b'"' in header or _holds(f, *self._range, b'"')
        if comm is not None:
            quoted = bool(comm.comm.allreduce(int(quoted)))
        self._quoted = quoted
        super().__init__(path, [str(c) for c in columns])

    def head(self) -> pd.DataFrame:
        frame = parse_csv(self.path, self.path, self._sep, self._na, nrows=HEAD_ROWS)
        frame.columns = self.columns
        return frame

    def chunks(self) -> Iterator[pd.DataFrame]:
        if self._quoted:
            yield from self._quoted_chunks()
            return
        from deltaprop.app.csv_shards import in_file, lines_before

        start, stop = self._range
        with open(self.path, "rb") as f:
            f.seek(start)
            rest = b""
            at = begin = start  # begin: the offset of rest in the file
            while at < stop or rest:
                block = f.read(min(CSV_BLOCK_BYTES, stop - at)) if at < stop else b""
                at += len(block)
                data = rest + block
                cut = data.rfind(b"\n") + 1 if at < stop else len(data)
                data, rest = data[:cut], data[cut:]
                if data.strip():
                    try:
                        chunk = parse_csv(
                            io.BytesIO(data), self.path, self._sep, self._na, header=None,
                            names=self.columns, dtype=dict.fromkeys(self.text_columns, str),
                        )  # fmt: skip
                    except DataError as exc:  # its line counted in the file
                        first = 1 + lines_before(f, begin)
                        raise in_file(exc, self.path, first) from None
                    yield chunk
                begin += len(data)
                if at >= stop and not block:
                    break

    def _quoted_chunks(self) -> Iterator[pd.DataFrame]:
        """Every rank parses all (twice under MPI), keeps its even share."""
        from deltaprop.parallel import even_share

        short = short_row_of_file(self.path, self._sep, len(self.columns))

        def reader() -> Iterator[pd.DataFrame]:
            chunks = iter(parse_csv(
                self.path, self.path, self._sep, self._na, chunksize=1 << 15,
                dtype=dict.fromkeys(self.text_columns, str)
            ))  # fmt: skip
            while True:  # pandas' lines are the file's; its errors as parse_csv's
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
                    raise first_error(exc, self.path, short) from None
                yield chunk
            if short is not None:
                raise CSVSyntaxError(short_row_message(self.path, *short))

        n = sum(len(c) for c in reader()) if self._size > 1 else 0
        share = even_share(n, self._rank, self._size) if self._size > 1 else slice(0, None)
        at = 0
        for chunk in reader():
            lo, hi = at, at + len(chunk)
            at = hi
            if share.stop is None:
                yield chunk
            elif lo < share.stop and hi > share.start:
                yield chunk.iloc[max(share.start - lo, 0) : share.stop - lo]


def _holds(f: io.BufferedReader, start: int, stop: int, needle: bytes) -> bool:
    f.seek(start)
    at = start
    while at < stop:
        block = f.read(min(CSV_BLOCK_BYTES, stop - at))
        if not block:
            break
        if needle in block:
            return True
        at += len(block)
    return False


def open_source(
    path: Path, *, na_values: list[str], comm: MPICommunicator | None = None
) -> ChunkSource:
    """The rank's share of a streamed input (see the module).

    Raises
    ------
    DataError
        An empty directory, unreadable files, Parquet without pyarrow, arrays of different
        lengths, a file type that is not streamed.
    """
    rank, size = (0, 1) if comm is None else (comm.rank, comm.size)
    if path.is_dir():
        parquet = sorted(p for p in path.iterdir() if p.suffix.lower() in _PARQUET)
        if parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise DataError(
                    f"cannot read '{path}': reading Parquet files needs pyarrow, which is "
                    "not installed (pip install pyarrow)"
                ) from None
            return _Parquet(path, parquet, rank, size)
        arrays = sorted(p for p in path.iterdir() if p.suffix.lower() == ".npy")
        if arrays:
            return _Npy(path, {p.stem: p for p in arrays}, rank, size)
        raise DataError(f"the directory '{path}' holds no .parquet/.pq files and no .npy arrays")
    if path.suffix.lower() == ".npy":
        check_readable(path)
        return _Npy(path, {"X": path}, rank, size)
    if path.suffix.lower() in (".csv", ".tsv"):
        return _Csv(path, "," if path.suffix.lower() == ".csv" else "\t", na_values, comm)
    raise DataError(f"cannot stream '{path}': use a directory, a .npy, a .csv or a .tsv file")
