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
import weakref
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MEMORY_FILESYSTEMS", "Spill", "default_spill_dir"]

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
