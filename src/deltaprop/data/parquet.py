"""A Parquet file or a directory of them, read by row groups; the rule for a table's parts
(:func:`open_parts`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.data.sampler import DEFAULT_BLOCK_ROWS, DEFAULT_BUFFER_BLOCKS
from deltaprop.data.sources import Dataset, _float_dtype
from deltaprop.data.spill import SpillingSource, runs

__all__ = ["ParquetDataset", "open_parts"]

TILE_ROWS = 2048
"""Rows converted at a time from Arrow's columns into the C-ordered matrix: the columns'
writes of one tile stay in the cache (a whole 200,000-row group, column after column, took
0.05 s against Arrow's 0.04 s decoding)."""


def _tiles(table: Any, at: int) -> tuple[list[tuple[Any, int]], int]:
    """The Arrow ``table`` cut into record batches of at most :data:`TILE_ROWS` rows (no
    copy), each with the row of the output where it goes from ``at`` on; and the row after
    the last."""
    tiles = []
    for whole in table.to_batches():
        for lo in range(0, whole.num_rows, TILE_ROWS):
            batch = whole.slice(lo, TILE_ROWS)
            tiles.append((batch, at))
            at += batch.num_rows
    return tiles, at


def _numeric(schema: Any) -> bool:
    """Whether every column of the Arrow ``schema`` is an integer or a float (then
    ``RecordBatch.to_tensor`` converts its rows)."""
    pa = _pyarrow()[0]
    return all(pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in schema)


def _tile_into(
    batch: Any, at: int, nf: int, X: np.ndarray, Y: np.ndarray, numeric: bool, row: int,
    source: str,
) -> None:  # fmt: skip
    """The record ``batch`` (its first ``nf`` columns the features, the others the targets;
    global rows from ``row`` on, of the file ``source``) written into ``X[at:]``,
    ``Y[at:]``: where ``numeric`` (:func:`_numeric` of its schema) through Arrow's own
    row-major conversion (``RecordBatch.to_tensor``, 0.07 against 0.12 µs a row on 33
    columns, column by column), otherwise (booleans, text) column by column; a value that
    is not a number is a ``ValueError`` naming its column, row, value and file."""
    n = batch.num_rows
    if numeric:
        tile = np.asarray(batch.to_tensor(row_major=True))
        X[at : at + n], Y[at : at + n] = tile[:, :nf], tile[:, nf:]
        return
    for j in range(batch.num_columns):
        out = X[at : at + n, j] if j < nf else Y[at : at + n, j - nf]
        column = batch.column(j)
        try:
            out[:] = column.to_numpy(zero_copy_only=False)
        except (ValueError, TypeError) as exc:
            raise _not_a_number(column, batch.schema.names[j], row, source, exc) from None


def _not_a_number(column: Any, name: str, row: int, source: str, exc: Exception) -> ValueError:
    """The error for an Arrow ``column`` (global rows from ``row`` on, of the file
    ``source``) that does not convert to numbers: its first value that is not one."""
    for i, value in enumerate(column.to_pylist()):
        try:
            float(value)
        except (TypeError, ValueError):
            return ValueError(
                f"column {name!r}, row {row + i} of the table (counted from 0; in "
                f"{source!r}): the value {value!r} is not a number"
            )
    return ValueError(f"column {name!r}, rows from {row} (of {source!r}): {exc}")


def open_parts(files: list[str], **options: Any) -> list[Any]:
    """The Parquet ``files`` opened from their footers (``pyarrow.parquet.ParquetFile``
    with ``options``; no data read), checked to hold the same columns: **the rule for the
    parts of a Parquet table** (:class:`ParquetDataset`, ``deltaprop train``): every part
    holds the first part's columns, no more, no fewer, matched by name in any order.

    Raises
    ------
    ValueError
        Naming the file that cannot be read as Parquet (truncated, not Parquet), or the
        part whose columns differ: the names it lacks or adds, and both lists in full.
    """
    pq = _pyarrow()[1]
    parts = []
    for f in files:
        try:
            parts.append(pq.ParquetFile(f, **options))
        except Exception as exc:  # ArrowInvalid, OSError: the footer cannot be read
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"cannot read {f!r} as a Parquet file: {reason}") from None
    first = parts[0].schema_arrow.names
    for f, part in zip(files, parts, strict=True):
        names = part.schema_arrow.names
        if set(names) != set(first) or len(names) != len(first):
            lacks = [c for c in first if c not in names]
            extra = [c for c in names if c not in first]
            diff = (
                " and ".join([f"lacks {lacks}"] * bool(lacks) + [f"adds {extra}"] * bool(extra))
                or "repeats a column"
            )
            raise ValueError(
                "the parts of a Parquet table must hold the same columns (in any order): "
                f"{f!r} {diff}; its columns are {names}, those of {files[0]!r} are {first}"
            )
    return parts


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - an optional dependency
        raise ImportError("reading Parquet needs pyarrow: pip install 'deltaprop[data]'") from exc
    return pa, pq


class ParquetDataset(SpillingSource, Dataset):
    """A Parquet file or a directory of Parquet files, its rows in the files' sorted order
    and each file's row groups in order; only the row groups a read touches are decoded
    (the last one is kept for the next read).

    Parameters
    ----------
    path : path
        A ``.parquet`` file or a directory (its ``*.parquet`` files, searched recursively):
        the parts of one table, checked from their footers when the dataset opens
        (:func:`open_parts`: the same columns, matched by name in any order).
    target : str or sequence of str
        The target column(s); several give a target of shape ``(m, k)``.
    columns : sequence of str or None, default=None
        The feature columns, in this order; by default every other numeric column in the
        schema's order.
    dtype : float32, float64 or None, default=None
        Of the rows read (float64 by default).
    block_rows, buffer_blocks : int
        The shuffle's layout (:func:`deltaprop.data.epoch_buffers`).
    spill_dir : path, "auto" or None, default="auto"
        Where a decoded copy of the rows read goes (:class:`deltaprop.data.spill.Spill`):
        each row group is decoded once, the first time a read touches it, into an unnamed
        sparse temporary file in this directory (``n_rows × (n_features + n_targets)``
        values of :attr:`dtype` at most, removed with the dataset), and later reads copy
        its rows from there (``pread``: no map, the pages in the system's file cache, not
        the process's memory): no decoding after the first epoch, whatever the row
        groups' size. ``"auto"``: the first local-disk directory with room for twice the
        copy (:func:`deltaprop.data.spill.default_spill_dir`: ``$TMPDIR`` as it is, else
        ``/var/tmp`` or the system's temporary directory where not held in memory), else
        none (a directory that cannot be written: none, with a warning); ``None``:
        no copy, every read decodes its row groups. The same bits either way;
        :attr:`spill_path` says which directory is used.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        target: str | list[str],
        columns: list[str] | None = None,
        *,
        dtype: Any = None,
        block_rows: int = DEFAULT_BLOCK_ROWS,
        buffer_blocks: int = DEFAULT_BUFFER_BLOCKS,
        spill_dir: str | os.PathLike[str] | None = "auto",
    ) -> None:
        super().__init__(block_rows=block_rows, buffer_blocks=buffer_blocks)
        pa = _pyarrow()[0]
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"path: no such file or directory: {str(p)!r}")
        files = sorted(str(f) for f in p.rglob("*.parquet")) if p.is_dir() else [str(p)]
        if not files:
            raise ValueError(f"path holds no .parquet files. Received: path={str(p)!r}")
        self._paths = files
        self._files = open_parts(files, memory_map=True, pre_buffer=False)  # no IO threads
        schema = self._files[0].schema_arrow
        targets = [target] if isinstance(target, str) else list(target)
        missing = [t for t in targets if t not in schema.names]
        if missing:
            raise ValueError(
                f"target must name columns of the table ({schema.names}). Received: target={target!r}"
            )
        if columns is None:
            columns = [
                f.name for f in schema
                if f.name not in targets
                and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                     or pa.types.is_boolean(f.type))
            ]  # fmt: skip
        else:
            columns = list(columns)
            bad = [c for c in columns if c not in schema.names or c in targets]
            if bad:
                raise ValueError(
                    f"columns must name feature columns of the table, not the target. Received: {bad}"
                )
        if not columns:
            raise ValueError(f"the table has no numeric feature columns besides {targets}")
        self.feature_names: list[str] = columns
        self.target_names = targets
        self._pieces = [(k, g) for k, f in enumerate(self._files) for g in range(f.num_row_groups)]
        counts = [self._files[k].metadata.row_group(g).num_rows for k, g in self._pieces]
        self._starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self.n_rows = int(self._starts[-1])
        self.n_features = len(columns)
        self.local = slice(0, self.n_rows)
        self.dtype = _float_dtype(dtype, np.dtype(np.float64))
        self.target_shape = () if isinstance(target, str) else (len(targets),)
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._open_spill(spill_dir, len(targets), self._starts)

    read_ahead = True

    def _tables(self, pieces: np.ndarray, threads: bool) -> Iterator[tuple[np.ndarray, Any]]:
        """For each file that ``pieces`` (ascending indices into the row groups) touch, in
        order: its pieces and one Arrow table of them (``read_row_groups``, the columns
        projected; decoded by Arrow's thread pool with ``threads``), missing values refused."""
        starts, names = self._starts, [*self.feature_names, *self.target_names]
        files = np.array([self._pieces[i][0] for i in pieces])
        for k in np.unique(files):
            mine = pieces[files == k]
            table = self._read_groups(k, [self._pieces[i][1] for i in mine], names, threads)
            for j, name in enumerate(names):
                nulls = table.column(j).null_count
                if nulls:
                    raise ValueError(
                        f"column {name!r} has {nulls} missing values in row groups "
                        f"{int(mine[0])}-{int(mine[-1])} (rows from {int(starts[mine[0]])})"
                    )
            yield mine, table

    def _decode_arrow(
        self, pieces: np.ndarray, pad: int = 0, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``pieces`` (ascending indices into the row groups), concatenated
        after ``pad`` uninitialised rows, in preallocated C-ordered arrays
        (:meth:`_tables`, converted :data:`TILE_ROWS` rows at a time)."""
        starts, nf = self._starts, self.n_features
        m = int((starts[pieces + 1] - starts[pieces]).sum())
        X = np.empty((pad + m, nf), self.dtype)
        Y = np.empty((pad + m, len(self.target_names)), self.dtype)
        at = pad
        for batch, row, numeric, source in self._tiles_of(pieces, threads):
            _tile_into(batch, at, nf, X, Y, numeric, row, source)
            at += batch.num_rows
        return X, Y

    def _tiles_of(self, pieces: np.ndarray, threads: bool) -> Iterator[tuple[Any, int, bool, str]]:
        """``(record batch, its first row, whether every column is a number, its file)``
        for the tiles of at most :data:`TILE_ROWS` rows of ``pieces`` (ascending), in order."""
        starts = self._starts
        for mine, table in self._tables(pieces, threads):
            numeric, offset, source = _numeric(table.schema), 0, self._source(mine)
            for run in runs(mine):  # consecutive row groups: consecutive rows
                n = int(starts[run[-1] + 1] - starts[run[0]])
                tiles, _ = _tiles(table.slice(offset, n), int(starts[run[0]]))
                offset += n
                for batch, row in tiles:
                    yield batch, row, numeric, source

    def _decoded(
        self, group: np.ndarray, threads: bool = False
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """The rows of the pieces ``group`` (ascending) as ``(first row, X, Y)`` tiles of at
        most :data:`TILE_ROWS` rows, for the decoded copy: each converted into one small
        buffer that the next reuses (written while it is in the cache; a whole group
        converted into a fresh matrix cost twice as much, in page faults and cache misses)."""
        nf = self.n_features
        Xt = np.empty((TILE_ROWS, nf), self.dtype)
        Yt = np.empty((TILE_ROWS, len(self.target_names)), self.dtype)
        for batch, row, numeric, source in self._tiles_of(group, threads):
            _tile_into(batch, 0, nf, Xt, Yt, numeric, row, source)
            yield row, Xt[: batch.num_rows], Yt[: batch.num_rows]

    def _source(self, pieces: np.ndarray) -> str:
        """The path of the file that holds the row groups ``pieces`` (all of one file)."""
        return self._paths[self._pieces[int(pieces[0])][0]]

    def _piece(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1], self._cache[2]
        X, Y = self._decode_arrow(np.array([i]))
        self._cache = (i, X, Y)
        return X, Y

    def _read_groups(self, k: int, groups: list[int], names: list[str], threads: bool) -> Any:
        """File ``k``'s ``groups``, the columns ``names``; read again on one thread where
        Arrow's pool cannot start its threads (an address-space cap)."""
        try:
            return self._files[k].read_row_groups(groups, columns=names, use_threads=threads)
        except (OSError, RuntimeError, MemoryError):
            if not threads:
                raise
            return self._files[k].read_row_groups(groups, columns=names, use_threads=False)

    def take_unordered(
        self, rows: np.ndarray, pad: int = 0, *, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row group the global ``rows`` touch, decoded once, in ascending order
        (:meth:`deltaprop.data.Dataset.take_unordered`)."""
        rows = np.asarray(rows, dtype=np.intp)
        lo, hi = self.local.start, self.local.stop
        if rows.size and not (lo <= rows.min() and rows.max() < hi):
            raise ValueError(
                f"rows from {int(rows.min())} to {int(rows.max())} are outside the rows this "
                f"dataset can read, [{lo}, {hi}) (of {self.n_rows})"
            )
        if self._spill is not None:  # the blocks the rows touch, from the decoded copy
            starts, stops, idx = self._blocks(rows, pad)

            def decode(group: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
                return self._decoded(group, threads)

            if self._fill(self._covering(starts, stops), decode):
                X, Y = self._copied(starts, stops, pad)
                return X, (Y[:, 0] if self.target_shape == () else Y), idx
        at = np.searchsorted(self._starts, rows, side="right") - 1
        pieces = np.unique(at)  # every row of the row groups the rows touch, decoded
        X, Y = self._decode_arrow(pieces, pad, threads)
        sizes = self._starts[pieces + 1] - self._starts[pieces]
        base = pad + np.cumsum(sizes) - sizes - self._starts[pieces]
        idx = (rows + base[np.searchsorted(pieces, at)]).astype(np.intp)
        return X, (Y[:, 0] if self.target_shape == () else Y), idx

    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        first = max(int(np.searchsorted(self._starts, start, side="right")) - 1, 0)
        last = int(np.searchsorted(self._starts, stop, side="left"))
        if self._fill(np.arange(first, min(last, len(self._pieces))), self._decoded):
            X, Y = self._copied(np.array([start]), np.array([stop]))
            return X, (Y[:, 0].copy() if self.target_shape == () else Y)
        Xs, Ys = [], []
        i = first
        while i < len(self._pieces) and self._starts[i] < stop:
            X, Y = self._piece(i)
            a = max(start - int(self._starts[i]), 0)
            b = min(stop, int(self._starts[i + 1])) - int(self._starts[i])
            Xs.append(X[a:b])
            Ys.append(Y[a:b])
            i += 1
        if not Xs:
            Xs, Ys = (
                [np.empty((0, self.n_features), self.dtype)],
                [np.empty((0, len(self.target_names)), self.dtype)],
            )
        X = Xs[0].copy() if len(Xs) == 1 else np.concatenate(Xs)
        Y = Ys[0].copy() if len(Ys) == 1 else np.concatenate(Ys)
        return X, (Y[:, 0].copy() if self.target_shape == () else Y)
