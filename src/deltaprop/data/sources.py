"""The data sources' interface, :class:`Dataset`, and the ``.npy`` source (memory-mapped),
:class:`NpyDataset`."""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.core import check_int
from deltaprop.data.sampler import DEFAULT_BLOCK_ROWS, DEFAULT_BUFFER_BLOCKS, check_layout

__all__ = ["Dataset", "NpyDataset", "open_npy"]


class Dataset(abc.ABC):
    """A table of ``n_rows`` rows too large to hold: read by contiguous row ranges.

    Row indices are *global* (rows of the whole table). An object may be able to read only
    a contiguous range of them, :attr:`local` (a rank's share, e.g. a ``.npy`` file that
    holds only that rank's rows); the trainer reads only the rows it owns.

    Attributes
    ----------
    n_rows : int
        Rows of the whole table.
    n_features : int
        Columns of ``X``.
    dtype : numpy.dtype
        Of ``X`` and ``y`` as :meth:`read` returns them (float64 or float32).
    target_shape : tuple of int
        ``()`` for a target of shape ``(m,)``, ``(k,)`` for ``(m, k)``.
    local : slice
        The global rows this object can read (``slice(0, n_rows)`` by default).
    block_rows : int
        Rows of one logical block (:func:`deltaprop.data.epoch_buffers`).
    buffer_blocks : int
        Blocks held and shuffled at a time.
    feature_names : list of str or None
    read_ahead : bool
        See below (``False`` here and for a ``.npy``: a mapped read is a copy).
    """

    n_rows: int
    n_features: int
    dtype: np.dtype[Any]
    target_shape: tuple[int, ...]
    local: slice
    feature_names: list[str] | None = None
    read_ahead: bool = False
    """Whether a streamed fit reads the next buffer in a background thread while the
    current one trains (sources whose reads decode or parse, and release the GIL)."""

    def __init__(self, *, block_rows: int, buffer_blocks: int) -> None:
        self.block_rows, self.buffer_blocks = check_layout(block_rows, buffer_blocks)

    @abc.abstractmethod
    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``read`` after the range check."""

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``[start, stop)`` (global indices, inside :attr:`local`).

        Returns
        -------
        X : ndarray of shape (stop - start, n_features), C order, :attr:`dtype`
        y : ndarray of shape (stop - start, *target_shape), :attr:`dtype`
            Fresh arrays or read-only views of a map: do not write into them.
        """
        lo, hi = self.local.start, self.local.stop
        if not lo <= start <= stop <= hi:
            raise ValueError(
                f"rows [{start}, {stop}) are outside the rows this dataset can read, "
                f"[{lo}, {hi}) (of {self.n_rows}). Received: start={start!r}, stop={stop!r}"
            )
        return self._read(int(start), int(stop))

    def take(self, rows: np.ndarray, *, threads: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The global ``rows`` (any order, inside :attr:`local`), in that order:
        :meth:`take_unordered`'s rows gathered (``threads`` passed on).

        Parameters
        ----------
        rows : ndarray of shape (m,), integer

        Returns
        -------
        X : ndarray of shape (m, n_features), C order, :attr:`dtype`
        y : ndarray of shape (m, *target_shape), :attr:`dtype`
            Fresh arrays.
        """
        X, y, idx = self.take_unordered(rows, threads=threads)
        return X.take(idx, axis=0), y.take(idx, axis=0)

    def take_unordered(
        self, rows: np.ndarray, pad: int = 0, *, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows that ``rows`` touch, in the source's own order, and where each of
        ``rows`` lies: ``X[idx]`` is ``take(rows)[0]`` without the gather (the compiled
        loop gathers each batch itself).

        Reads each logical block that ``rows`` touch once, in ascending order, into one
        preallocated array (sources that can read several blocks at once at a lower
        cost, Parquet, override this).

        Parameters
        ----------
        rows : ndarray of shape (m,), integer
            Global rows, inside :attr:`local`.
        pad : int, default=0
            Leading rows of room left uninitialised in ``X`` and ``y`` (the caller puts a
            partial batch there).
        threads : bool, default=False
            Whether the read may use every core (a source that decodes, Parquet, does; a
            streamed fit asks for it where it reads between buffers).

        Returns
        -------
        X : ndarray of shape (pad + r, n_features), C order, :attr:`dtype`
            ``r`` rows: every row of each block ``rows`` touch.
        y : ndarray of shape (pad + r, *target_shape), :attr:`dtype`
        idx : ndarray of shape (m,), intp
            ``X[idx[i]]`` is row ``rows[i]``; every ``idx[i] ≥ pad``.
        """
        rows = np.asarray(rows, dtype=np.intp)
        lo, hi = self.local.start, self.local.stop
        if rows.size and not (lo <= rows.min() and rows.max() < hi):
            raise ValueError(
                f"rows from {int(rows.min())} to {int(rows.max())} are outside the rows this "
                f"dataset can read, [{lo}, {hi}) (of {self.n_rows})"
            )
        starts, stops, idx = self._blocks(rows, pad)
        X = np.empty((pad + int((stops - starts).sum()), self.n_features), self.dtype)
        y = np.empty((X.shape[0], *self.target_shape), self.dtype)
        at = pad
        for a, z in zip(starts.tolist(), stops.tolist(), strict=True):
            X[at : at + z - a], y[at : at + z - a] = self.read(a, z)
            at += z - a
        return X, y, idx

    def _blocks(self, rows: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The logical blocks the global ``rows`` touch, ascending, as row ranges
        ``[starts[i], stops[i])`` (clipped to :attr:`local`), and where each of ``rows``
        lies once they are concatenated after ``pad`` rows (``idx``, intp)."""
        lo, hi, br = self.local.start, self.local.stop, self.block_rows
        q = rows // br
        first = int(q.min()) if q.size else 0
        span = int(q.max()) - first + 1 if q.size else 0
        if span <= 8 * q.size:  # a buffer's blocks: marked, no sort (np.unique sorts)
            touched = np.zeros(span, bool)
            touched[q - first] = True
            blocks = np.flatnonzero(touched) + first
            which = (np.cumsum(touched) - 1)[q - first]
        else:  # a few rows spread far apart
            blocks, which = np.unique(q, return_inverse=True)
        starts = np.maximum(blocks * br, lo)
        stops = np.minimum((blocks + 1) * br, hi)
        sizes = stops - starts
        base = (pad + np.cumsum(sizes) - sizes).astype(np.intp)
        idx = (rows + (base - starts)[which]).astype(np.intp)
        return starts, stops, idx

    @property
    def target_dtype(self) -> np.dtype[Any]:
        """The dtype the target is stored in: a classifier's labels take it (integer labels
        stay integers, as scikit-learn's ``classes_``); rows are read in :attr:`dtype`."""
        return self.dtype

    def read_target(self, start: int, stop: int) -> np.ndarray:
        """Only the target of rows ``[start, stop)``, shape ``(stop - start, *target_shape)``
        (sources that can skip the features do)."""
        return self.read(start, stop)[1]

    def chunks(self, chunk_rows: int = 65_536) -> Any:
        """Yield ``(start, X, y)`` over :attr:`local` in ranges of ``chunk_rows`` rows."""
        lo, hi = self.local.start, self.local.stop
        for start in range(lo, hi, chunk_rows):
            stop = min(start + chunk_rows, hi)
            yield (start, *self.read(start, stop))

    @property
    def nbytes(self) -> int:
        """Bytes of the whole table's ``X`` at :attr:`dtype`."""
        return self.n_rows * self.n_features * self.dtype.itemsize

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_rows={self.n_rows}, n_features={self.n_features}, "
            f"dtype={self.dtype.name}, local=[{self.local.start}, {self.local.stop}))"
        )


def _float_dtype(dtype: Any, default: np.dtype[Any]) -> np.dtype[Any]:
    if dtype is None:
        return default if default in (np.float32, np.float64) else np.dtype(np.float64)
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64. Received: dtype={dtype!r}")
    return dt


def open_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """The ``.npy`` file ``path`` memory-mapped read-only (no pickles); a file that is not
    one, or is shorter than its header says (truncated), is a ``ValueError`` naming it
    (:class:`NpyDataset` and ``deltaprop train`` map their arrays with this)."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"cannot map {str(path)!r} as a .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise ValueError(f"cannot map {str(path)!r} as a .npy array: it is not one")
    return arr


def _load_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: no such file: {str(path)!r}")
        try:
            arr = open_npy(path)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    else:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    return arr


class NpyDataset(Dataset):
    """A ``.npy`` file, memory-mapped read-only, or an array (a ``np.memmap`` stays mapped).

    Parameters
    ----------
    X : path or ndarray of shape (m, n_features)
        A numeric 2-D array; a file is opened with ``np.load(..., mmap_mode="r")``.
    y : path or ndarray of shape (m,) or (m, k)
        The target of the same rows.
    offset : int, default=0
        The global index of ``X``'s first row: ``X`` holds rows ``[offset, offset + m)``
        of a table of ``n_rows`` rows (a rank's share written by itself).
    n_rows : int or None, default=None
        Rows of the whole table; ``offset + m`` by default.
    dtype : float32, float64 or None, default=None
        Of the rows read; ``X``'s own where it is one of those, else float64.
    block_rows, buffer_blocks : int
        The shuffle's layout (:func:`deltaprop.data.epoch_buffers`).
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        offset: int = 0,
        n_rows: int | None = None,
        dtype: Any = None,
        block_rows: int = DEFAULT_BLOCK_ROWS,
        buffer_blocks: int = DEFAULT_BUFFER_BLOCKS,
    ) -> None:
        super().__init__(block_rows=block_rows, buffer_blocks=buffer_blocks)
        self.X = _load_array("X", X)
        self.y = _load_array("y", y)
        if self.X.ndim != 2 or self.X.dtype.kind not in "biuf":
            raise ValueError(
                "X must be a numeric 2-D array. Received: "
                f"X with shape {self.X.shape} and dtype {self.X.dtype}"
            )
        m = self.X.shape[0]
        if self.y.ndim not in (1, 2) or self.y.shape[0] != m or self.y.dtype.kind not in "biuf":
            raise ValueError(
                f"y must be numeric of shape ({m},) or ({m}, k), the rows of X. Received: "
                f"y with shape {self.y.shape} and dtype {self.y.dtype}"
            )
        offset = check_int("offset", offset, low=0, what="a non-negative integer")
        total = offset + m if n_rows is None else int(n_rows)
        if total < offset + m:
            raise ValueError(
                f"n_rows must be at least offset + len(X) = {offset + m}. Received: n_rows={n_rows!r}"
            )
        self.n_rows, self.n_features = total, int(self.X.shape[1])
        self.local = slice(offset, offset + m)
        self.dtype = _float_dtype(dtype, self.X.dtype)
        self.target_shape = tuple(self.y.shape[1:])

    @property
    def target_dtype(self) -> np.dtype[Any]:
        return self.y.dtype

    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = start - self.local.start, stop - self.local.start
        X = np.ascontiguousarray(self.X[a:b], dtype=self.dtype)
        return X, np.ascontiguousarray(self.y[a:b], dtype=self.dtype)
