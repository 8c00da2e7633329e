"""A Parquet file or a directory of them (``pyarrow.dataset``), read by row groups."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.data.sampler import DEFAULT_BLOCK_ROWS, DEFAULT_BUFFER_BLOCKS
from deltaprop.data.sources import Dataset, _float_dtype

__all__ = ["ParquetDataset"]


def _pyarrow() -> tuple[Any, Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.dataset as pads
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - an optional dependency
        raise ImportError("reading Parquet needs pyarrow: pip install 'deltaprop[data]'") from exc
    return pa, pads, pq


class ParquetDataset(Dataset):
    """A Parquet file or a directory of Parquet files, its rows in the files' sorted order
    and each file's row groups in order; only the row groups a read touches are decoded
    (the last one is kept for the next read).

    Parameters
    ----------
    path : path
        A ``.parquet`` file or a directory (searched recursively by ``pyarrow.dataset``).
    target : str or sequence of str
        The target column(s); several give a target of shape ``(m, k)``.
    columns : sequence of str or None, default=None
        The feature columns, in this order; by default every other numeric column in the
        schema's order.
    dtype : float32, float64 or None, default=None
        Of the rows read (float64 by default).
    block_rows, buffer_blocks : int
        The shuffle's layout (:func:`deltaprop.data.epoch_buffers`).
    spill_dir : path or None, default=None
        A directory on a local disk for a decoded copy of the rows read: each row group is
        decoded once (in the first epoch) into an unnamed temporary file there
        (``n_rows × (n_features + n_targets)`` values of :attr:`dtype` at most, removed
        when the dataset is collected), and later reads copy its rows, memory-mapped, as
        from a ``.npy``: no decoding. The map is the table's size in address space (an
        ``RLIMIT_AS`` cap counts it), its pages the system's cache, not the process's
        memory. The same bits as without.
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
        spill_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(block_rows=block_rows, buffer_blocks=buffer_blocks)
        pa, pads, pq = _pyarrow()
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"path: no such file or directory: {str(p)!r}")
        files = sorted(str(f) for f in p.rglob("*.parquet")) if p.is_dir() else [str(p)]
        if not files:
            raise ValueError(f"path holds no .parquet files. Received: path={str(p)!r}")
        self._ds = pads.dataset(files, format="parquet")
        schema = self._ds.schema
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
        self._files = [
            pq.ParquetFile(f, memory_map=True, pre_buffer=False) for f in files
        ]  # no IO threads
        self._pieces = [(k, g) for k, f in enumerate(self._files) for g in range(f.num_row_groups)]
        counts = [self._files[k].metadata.row_group(g).num_rows for k, g in self._pieces]
        self._starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self.n_rows = int(self._starts[-1])
        self.n_features = len(columns)
        self.local = slice(0, self.n_rows)
        self.dtype = _float_dtype(dtype, np.dtype(np.float64))
        self.target_shape = () if isinstance(target, str) else (len(targets),)
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._spill: np.ndarray | None = None
        self._spilled = np.zeros(len(self._pieces), bool)
        if spill_dir is not None:
            folder = Path(spill_dir)
            if not folder.is_dir():
                raise ValueError(
                    f"spill_dir must be an existing directory. Received: spill_dir={str(spill_dir)!r}"
                )
            width = self.n_features + len(targets)
            shape = (max(self.n_rows, 1), width)
            with tempfile.TemporaryFile(dir=folder, prefix="deltaprop-spill-") as f:
                f.truncate(shape[0] * width * self.dtype.itemsize)  # sparse: rows read only
                self._spill = np.memmap(f, self.dtype, "r+", shape=shape)  # outlives f

    read_ahead = True

    def _decode(
        self, pieces: np.ndarray, pad: int = 0, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``pieces`` (ascending indices into the row groups), concatenated
        after ``pad`` uninitialised rows: decoded (:meth:`_decode_arrow`), or with
        ``spill_dir`` copied from the decoded copy, the row groups not yet in it decoded
        into it first."""
        if self._spill is None:
            return self._decode_arrow(pieces, pad, threads)
        M, done, starts, nf = self._spill, self._spilled, self._starts, self.n_features
        new = pieces[~done[pieces]]
        if new.size:
            Xn, Yn = self._decode_arrow(new, 0, threads)
            at = 0
            for i in new.tolist():
                a, b = int(starts[i]), int(starts[i + 1])
                M[a:b, :nf], M[a:b, nf:] = Xn[at : at + b - a], Yn[at : at + b - a]
                at += b - a
            done[new] = True
        m = int((starts[pieces + 1] - starts[pieces]).sum())
        X = np.empty((pad + m, nf), self.dtype)
        Y = np.empty((pad + m, len(self.target_names)), self.dtype)
        at = pad
        for run in np.split(pieces, np.flatnonzero(np.diff(pieces) != 1) + 1):
            if run.size:  # consecutive row groups: one copy
                a, b = int(starts[run[0]]), int(starts[run[-1] + 1])
                X[at : at + b - a], Y[at : at + b - a] = M[a:b, :nf], M[a:b, nf:]
                at += b - a
        return X, Y

    def _decode_arrow(
        self, pieces: np.ndarray, pad: int = 0, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``pieces`` (ascending indices into the row groups), concatenated
        after ``pad`` uninitialised rows: one ``read_row_groups`` call per file, the
        columns projected (decoded by Arrow's thread pool with ``threads``), each column
        written into a preallocated C-ordered array."""
        starts = self._starts
        m = int((starts[pieces + 1] - starts[pieces]).sum())
        X = np.empty((pad + m, self.n_features), self.dtype)
        Y = np.empty((pad + m, len(self.target_names)), self.dtype)
        names = [*self.feature_names, *self.target_names]
        files = np.array([self._pieces[i][0] for i in pieces])
        at = pad
        for k in np.unique(files):
            mine = pieces[files == k]
            groups = [self._pieces[i][1] for i in mine]
            table = self._read_groups(k, groups, names, threads)
            n = table.num_rows
            for out, cols in ((X, self.feature_names), (Y, self.target_names)):
                for j, name in enumerate(cols):
                    col = table.column(name)
                    if col.null_count:
                        first = int(mine[0])
                        raise ValueError(
                            f"column {name!r} has {col.null_count} missing values in row "
                            f"groups {first}-{int(mine[-1])} (rows from {int(starts[first])})"
                        )
                    out[at : at + n, j] = col.to_numpy()
            at += n
        return X, Y

    def _piece(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1], self._cache[2]
        X, Y = self._decode(np.array([i]))
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
        at = np.searchsorted(self._starts, rows, side="right") - 1
        pieces = np.unique(at)
        X, Y = self._decode(pieces, pad, threads)
        sizes = self._starts[pieces + 1] - self._starts[pieces]
        base = pad + np.cumsum(sizes) - sizes - self._starts[pieces]
        idx = (rows + base[np.searchsorted(pieces, at)]).astype(np.intp)
        return X, (Y[:, 0] if self.target_shape == () else Y), idx

    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        Xs, Ys = [], []
        i = max(first, 0)
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
