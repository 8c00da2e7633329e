"""A decoded copy of a source's rows on a local disk (:class:`Spill`), and where one may go
by default (:func:`default_spill_dir`).

A source whose reads decode (Parquet) writes each row group it decodes into the copy once
and reads it back from there afterwards, with ``pread`` into the caller's arrays: no
decoding after the first epoch, whatever the files' row groups (a buffer of blocks drawn
from a few large row groups would otherwise decode all of them for every buffer), no map in
the address space, and the pages in the system's file cache, not the process's memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MEMORY_FILESYSTEMS", "Spill", "SpillingSource", "default_spill_dir"]

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
"""Filesystems held in memory: a decoded copy there would take the memory it saves."""

SPARE_FRACTION = 0.5
"""The share of a directory's free space that a default copy may take."""


def _filesystem(path: Path) -> str | None:
    """The type of the filesystem that holds ``path`` (from ``/proc/mounts``, the longest
    mount point above it), or None where that cannot be told."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    real, best, kind = str(path.resolve()), -1, None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def default_spill_dir(n_bytes: int) -> Path | None:
    """Where a decoded copy of ``n_bytes`` goes by default: the first of ``$TMPDIR`` (the
    user's choice, used as it is), ``/var/tmp`` and the system's temporary directory
    (:func:`tempfile.gettempdir`) that is a writable directory on a disk (not ``tmpfs`` or
    ``ramfs``, except ``$TMPDIR``) with at least twice ``n_bytes`` free; None if none is."""
    chosen = os.environ.get("TMPDIR")
    candidates = [(Path(chosen), True)] if chosen else []
    candidates += [(Path("/var/tmp"), False), (Path(tempfile.gettempdir()), False)]
    for folder, explicit in candidates:
        try:
            if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
                continue
            if not explicit and _filesystem(folder) in MEMORY_FILESYSTEMS:
                continue
            if shutil.disk_usage(folder).free * SPARE_FRACTION < n_bytes:
                continue
        except OSError:
            continue
        return folder
    return None


class Spill:
    """An unnamed temporary file in ``folder`` holding rows ``[0, n_rows)`` of ``X`` (shape
    ``(n_rows, n_features)``) then of ``Y`` (``(n_rows, n_targets)``), both C-ordered in
    ``dtype``: sparse, only the rows written take space; removed when the object is
    collected (or :meth:`close`).

    Parameters
    ----------
    folder : path
        An existing directory.
    n_rows, n_features, n_targets : int
    dtype : numpy.dtype
    """

    def __init__(
        self, folder: str | os.PathLike[str], n_rows: int, n_features: int, n_targets: int,
        dtype: Any,
    ) -> None:  # fmt: skip
        self.dtype = np.dtype(dtype)
        self.widths = (n_features, n_targets)
        self.n_rows = n_rows
        self._file = tempfile.TemporaryFile(dir=folder, prefix="deltaprop-spill-", buffering=0)
        self._fd = self._file.fileno()
        self._lock = threading.Lock()  # for seek-and-read where there is no preadv
        self._closer = weakref.finalize(self, self._file.close)  # no ResourceWarning
        self._file.truncate(n_rows * (n_features + n_targets) * self.dtype.itemsize)

    def _offset(self, part: int, row: int) -> int:
        base = 0 if part == 0 else self.n_rows * self.widths[0]
        return (base + row * self.widths[part]) * self.dtype.itemsize

    def write(self, start: int, X: np.ndarray, Y: np.ndarray) -> None:
        """Rows ``[start, start + len(X))`` (``X``, ``Y`` of this dtype and widths)."""
        for part, A in enumerate((X, Y)):
            if A.size == 0:
                continue
            data = np.ascontiguousarray(A, self.dtype).data.cast("B")
            at, off = 0, self._offset(part, start)
            while at < len(data):
                at += self._pwrite(data[at:], off + at)

    def read_into(self, start: int, X: np.ndarray, Y: np.ndarray) -> None:
        """Rows ``[start, start + len(X))`` into ``X`` and ``Y`` (C-ordered, this dtype, the
        widths): one ``pread`` each."""
        for part, A in enumerate((X, Y)):
            if A.size == 0:
                continue
            out = A.data.cast("B")
            at, off = 0, self._offset(part, start)
            while at < len(out):
                got = self._pread(out[at:], off + at)
                if got == 0:
                    raise OSError(f"the decoded copy {self._file.name!r} ended early")
                at += got

    def _pwrite(self, data: memoryview, offset: int) -> int:
        if hasattr(os, "pwrite"):
            return os.pwrite(self._fd, data, offset)
        with self._lock:  # pragma: no cover - systems without pwrite (Windows)
            self._file.seek(offset)
            return self._file.write(data) or 0

    def _pread(self, out: memoryview, offset: int) -> int:
        if hasattr(os, "preadv"):
            return os.preadv(self._fd, [out], offset)
        with self._lock:  # pragma: no cover - systems without preadv (macOS, Windows)
            self._file.seek(offset)
            return self._file.readinto(out) or 0

    def close(self) -> None:
        """Remove the file."""
        self._closer()


Decode = Callable[[np.ndarray], Iterable[tuple[int, np.ndarray, np.ndarray]]]
"""``decode(group)``: the rows of the pieces ``group`` (ascending) as ``(first row, X, Y)``
runs of consecutive rows (``Y`` 2-D), each valid until the next is taken."""


class SpillingSource:
    """What a source that decodes (Parquet's row groups, CSV's chunks: its *pieces*,
    consecutive row ranges) needs for a decoded copy: :meth:`_open_spill` in its
    constructor, then :meth:`_fill` before a read and :meth:`_copied` for the read.

    Attributes
    ----------
    spill_path : Path or None
        The directory of the decoded copy, or None (no copy: every read decodes).
    """

    n_rows: int
    n_features: int
    dtype: np.dtype[Any]
    block_rows: int
    buffer_blocks: int
    spill_path: Path | None = None
    _spill: Spill | None = None

    def _open_spill(
        self, spill_dir: str | os.PathLike[str] | None, n_targets: int, starts: np.ndarray
    ) -> None:
        """The copy by ``spill_dir`` (a directory, ``"auto"`` or None), for the pieces that
        start at ``starts`` (ascending, their end last)."""
        self._piece_starts, self._n_targets = starts, n_targets
        self._spilled = np.zeros(len(starts) - 1, bool)
        if spill_dir is None:
            return
        size = self.n_rows * (self.n_features + n_targets) * self.dtype.itemsize
        if isinstance(spill_dir, str) and spill_dir == "auto":
            self.spill_path = default_spill_dir(size)
        else:
            self.spill_path = Path(spill_dir)
            if not self.spill_path.is_dir():
                raise ValueError(
                    "spill_dir must be an existing directory, 'auto' or None. "
                    f"Received: spill_dir={str(spill_dir)!r}"
                )
        if self.spill_path is not None:
            try:
                self._spill = Spill(
                    self.spill_path, self.n_rows, self.n_features, n_targets, self.dtype
                )
            except OSError as exc:  # read-only, no permission: as a full disk (_fill)
                self._drop_spill(f"cannot be created ({exc})", stacklevel=3)

    def _drop_spill(self, why: str, stacklevel: int) -> None:
        """No decoded copy from now on (every read decodes: the same rows), with a
        ``RuntimeWarning`` saying ``why`` the copy in :attr:`spill_path` is dropped."""
        warnings.warn(
            f"the decoded copy in spill_dir={str(self.spill_path)!r} {why}; every read "
            "decodes from now on",
            RuntimeWarning, stacklevel=stacklevel + 1,
        )  # fmt: skip
        if self._spill is not None:
            self._spill.close()
        self._spill, self.spill_path = None, None

    def _fill(self, pieces: np.ndarray, decode: Decode) -> bool:
        """Whether the decoded copy holds the pieces ``pieces`` (ascending): those not yet
        there decoded (:data:`Decode`) and written, a buffer's worth of rows at a time (a
        read of a few large pieces decodes one of them at a time). Where the copy cannot
        be written (the disk full) it is dropped, with a warning, and every read decodes
        from then on: False (so too where it cannot be created: a read-only directory)."""
        spill, starts, done = self._spill, self._piece_starts, self._spilled
        if spill is None:
            return False
        new = pieces[~done[pieces]]
        budget = self.block_rows * self.buffer_blocks
        while new.size:
            sizes = np.cumsum(starts[new + 1] - starts[new])
            take = max(int(np.searchsorted(sizes, budget, side="right")), 1)
            group, new = new[:take], new[take:]
            for a, Xn, Yn in decode(group):
                try:
                    spill.write(a, Xn, Yn)
                except OSError as exc:
                    self._drop_spill(f"could not be written ({exc})", stacklevel=3)
                    return False
            done[group] = True
        return True

    def _covering(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """The pieces (ascending) that overlap the row ranges ``[starts[i], stops[i])``
        (ascending, disjoint): what a read of those ranges from the copy needs."""
        bounds = self._piece_starts
        first = np.searchsorted(bounds, starts, side="right") - 1
        last = np.searchsorted(bounds, stops, side="left")  # one past each range's last
        cover = np.zeros(len(bounds), np.intp)
        np.add.at(cover, first, 1)
        np.add.at(cover, last, -1)
        return np.flatnonzero(np.cumsum(cover)[:-1] > 0)

    def _copied(
        self, starts: np.ndarray, stops: np.ndarray, pad: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``[starts[i], stops[i])`` (ascending, disjoint, all in the decoded
        copy), concatenated after ``pad`` uninitialised rows, ``X`` and the 2-D ``Y``: one
        read per run of adjacent ranges."""
        assert self._spill is not None
        m = int((stops - starts).sum())
        X = np.empty((pad + m, self.n_features), self.dtype)
        Y = np.empty((pad + m, self._n_targets), self.dtype)
        cut = np.flatnonzero(starts[1:] != stops[:-1]) + 1
        at = pad
        for a, b in zip(np.split(starts, cut), np.split(stops, cut), strict=True):
            if a.size:
                n = int(b[-1] - a[0])
                self._spill.read_into(int(a[0]), X[at : at + n], Y[at : at + n])
                at += n
        return X, Y


def runs(pieces: np.ndarray) -> list[np.ndarray]:
    """``pieces`` (ascending) cut into runs of consecutive indices."""
    return [r for r in np.split(pieces, np.flatnonzero(np.diff(pieces) != 1) + 1) if r.size]
