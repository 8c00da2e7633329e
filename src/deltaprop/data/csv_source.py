"""A numeric CSV file too large to hold: one indexing pass records the byte offset of every
``chunk_rows``-th row, then rows are read by byte ranges."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.core import check_int
from deltaprop.data.sampler import DEFAULT_BLOCK_ROWS, DEFAULT_BUFFER_BLOCKS
from deltaprop.data.sources import Dataset, _float_dtype
from deltaprop.data.spill import SpillingSource, runs

__all__ = ["CSVDataset"]

SCAN_BYTES = 1 << 22
"""Bytes read at a time by the indexing pass (4 MiB)."""

_FIELDS = re.compile(r"\bline (\d+), saw (\d+)")


def _index(path: Path, chunk_rows: int, data_start: int) -> tuple[np.ndarray, int]:
    """The byte offsets of rows ``0, chunk_rows, 2·chunk_rows, ...`` and of the end, and
    the number of rows (lines after the header; a last line without a newline counts, an
    empty last line does not)."""
    offsets = [data_start]
    n = 0  # rows whose start is known, i.e. newlines seen + the first row
    pos = data_start
    last_byte = b"\n"
    with path.open("rb") as f:
        f.seek(data_start)
        while chunk := f.read(SCAN_BYTES):
            ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)
            # rows n+1, n+2, ... start after each newline; keep those that start a chunk
            row_ids = n + 1 + np.arange(ends.size)
            sel = row_ids % chunk_rows == 0
            offsets.extend((pos + ends[sel] + 1).tolist())
            n += ends.size
            pos += len(chunk)
            last_byte = chunk[-1:]
    rows = n + (last_byte != b"\n")
    if offsets[-1] >= pos and len(offsets) > 1:  # the file ends on a chunk's boundary
        offsets.pop()
    offsets = [o for o in offsets if o < pos] or [data_start]
    return np.array([*offsets, pos], dtype=np.int64), rows


class CSVDataset(SpillingSource, Dataset):
    """A CSV file of numbers, with a header line; no quoted fields spanning lines.

    Parameters
    ----------
    path : path
    target : str, int or sequence of them
        The target column(s) by header name or index.
    columns : sequence of str or int, or None, default=None
        The feature columns, in this order; by default every column but the target.
    chunk_rows : int, default=DEFAULT_BLOCK_ROWS
        The index's stride: a read parses whole chunks of this many rows. Only the I/O
        depends on it, never a result.
    delimiter : str, default=","
    dtype : float32, float64 or None, default=None
    block_rows, buffer_blocks : int
        The shuffle's layout (:func:`deltaprop.data.epoch_buffers`).
    spill_dir : path, "auto" or None, default="auto"
        Where a parsed copy of the rows read goes, as for
        :class:`~deltaprop.data.ParquetDataset`: each chunk is parsed once, the first time
        a read touches it, and later reads copy from the copy; None parses every read.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        target: Any,
        columns: list[Any] | None = None,
        *,
        chunk_rows: int = DEFAULT_BLOCK_ROWS,
        delimiter: str = ",",
        dtype: Any = None,
        block_rows: int = DEFAULT_BLOCK_ROWS,
        buffer_blocks: int = DEFAULT_BUFFER_BLOCKS,
        spill_dir: str | os.PathLike[str] | None = "auto",
    ) -> None:
        super().__init__(block_rows=block_rows, buffer_blocks=buffer_blocks)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path: no such file: {str(self.path)!r}")
        self.chunk_rows = check_int("chunk_rows", chunk_rows, low=1, what="a positive integer")
        self.delimiter = delimiter
        with self.path.open("rb") as f:
            header_line = f.readline()
        header = header_line.decode().rstrip("\r\n").split(delimiter)
        names = [h.strip().strip('"') for h in header]
        targets = list(target) if isinstance(target, list | tuple) else [target]
        self.target_index = [self._col(names, t, "target") for t in targets]
        if columns is None:
            feats = [j for j in range(len(names)) if j not in self.target_index]
        else:
            feats = [self._col(names, c, "columns") for c in columns]
            if set(feats) & set(self.target_index):
                raise ValueError(f"columns must not hold the target. Received: columns={columns!r}")
        if not feats:
            raise ValueError("the file has no feature columns besides the target")
        self.feature_index = feats
        self.feature_names = [names[j] for j in feats]
        self.target_names = [names[j] for j in self.target_index]
        self._n_columns = len(names)
        self._offsets, self.n_rows = _index(self.path, self.chunk_rows, len(header_line))
        self.n_features = len(feats)
        self.local = slice(0, self.n_rows)
        self.dtype = _float_dtype(dtype, np.dtype(np.float64))
        self.target_shape = () if not isinstance(target, list | tuple) else (len(targets),)
        self._cache: tuple[int, int, np.ndarray] | None = None
        n_chunks = len(self._offsets) - 1
        starts = np.minimum(np.arange(n_chunks + 1, dtype=np.int64) * self.chunk_rows, self.n_rows)
        self._open_spill(spill_dir, len(targets), starts)

    @staticmethod
    def _col(names: list[str], key: Any, what: str) -> int:
        if isinstance(key, str):
            if key not in names:
                raise ValueError(
                    f"{what} must name a column of the header {names}. Received: {key!r}"
                )
            return names.index(key)
        j = check_int(what, key, low=0, what="a column name or index")
        if j >= len(names):
            raise ValueError(f"{what} index must be below {len(names)} columns. Received: {key!r}")
        return j

    def _chunks(self, first: int, last: int) -> np.ndarray:
        """Every column of chunks ``[first, last)``, parsed."""
        if self._cache is not None and self._cache[:2] == (first, last):
            return self._cache[2]
        a, b = int(self._offsets[first]), int(self._offsets[last])
        with self.path.open("rb") as f:
            f.seek(a)
            raw = f.read(b - a)
        import pandas as pd

        row0 = first * self.chunk_rows
        expected = min(last * self.chunk_rows, self.n_rows) - row0
        try:
            table = pd.read_csv(
                io.BytesIO(raw), sep=self.delimiter, header=None, dtype=np.float64,
                names=range(self._n_columns), engine="c", skip_blank_lines=False,
            ).to_numpy()  # fmt: skip
        except pd.errors.ParserError as exc:  # a row with more fields than the header
            found = _FIELDS.search(str(exc))
            where = (f"line {row0 + int(found.group(1)) + 1} has {found.group(2)} fields"
                     if found else f"a line of rows {row0} to {row0 + expected} is malformed")  # fmt: skip
            raise ValueError(f"{self.path}: {where}, not {self._n_columns} as the header") from None
        bad = np.flatnonzero(np.isnan(table[:, self.feature_index + self.target_index]).any(axis=1))
        if table.shape[0] != expected or bad.size:
            why = (f": line {row0 + int(bad[0]) + 2} has a missing value, is blank or has too "
                   "few fields" if bad.size else " (missing values or blank lines)")  # fmt: skip
            raise ValueError(
                f"{self.path}: rows {row0} to {row0 + expected} are not {self._n_columns} "
                f"numbers each{why}"
            )
        self._cache = (first, last, table)
        return table

    def _parsed(self, chunks: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(first row, X, Y)`` of each run of consecutive chunks among ``chunks``
        (ascending), ``Y`` 2-D (:data:`deltaprop.data.spill.Decode`)."""
        for run in runs(chunks):
            table = self._chunks(int(run[0]), int(run[-1]) + 1)
            yield (int(run[0]) * self.chunk_rows,
                   np.ascontiguousarray(table[:, self.feature_index], dtype=self.dtype),
                   np.ascontiguousarray(table[:, self.target_index], dtype=self.dtype))  # fmt: skip

    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if stop <= start:
            return (np.empty((0, self.n_features), self.dtype),
                    np.empty((0, *self.target_shape), self.dtype))  # fmt: skip
        first, last = start // self.chunk_rows, -(-stop // self.chunk_rows)
        if self._fill(np.arange(first, last), self._parsed):
            X, Y = self._copied(np.array([start]), np.array([stop]))
            return X, (Y[:, 0].copy() if self.target_shape == () else Y)
        table = self._chunks(first, last)
        rows = slice(start - first * self.chunk_rows, stop - first * self.chunk_rows)
        X = np.ascontiguousarray(table[rows][:, self.feature_index], dtype=self.dtype)
        Y = np.ascontiguousarray(table[rows][:, self.target_index], dtype=self.dtype)
        return X, (Y[:, 0].copy() if self.target_shape == () else Y)
