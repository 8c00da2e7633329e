"""numba's ``njit(cache=True)`` for every compiled kernel of deltaprop, with a cache that
notices edits to the code it was compiled from.

numba keys a function's on-disk cache on the content of the function's own source file,
not on the files of the functions it calls and links into its machine code: after an edit
of, say, an optimizer's ``kernel_update`` (in :mod:`deltaprop.optim`), the training loop
(in :mod:`deltaprop.fast.epoch`, unchanged) would load its cached machine code, with the
old update inside, and train by the old equation. :func:`jit` adds to each function's
stamp a digest of every module of ``deltaprop.core``, ``deltaprop.optim`` and
``deltaprop.fast`` (:func:`sources_digest`, where the kernels and what they call live):
any edit there, an upgrade, or a checkout of another commit makes every cached kernel
stale, so that the next fit compiles afresh (once) instead of running old code.

>>> len(sources_digest())
32
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["KERNEL_PACKAGES", "jit", "sources_digest", "stamp_cache"]

KERNEL_PACKAGES = ("core", "optim", "fast")
"""The packages of ``deltaprop`` whose modules the compiled kernels are made from."""

_PACKAGE = Path(__file__).resolve().parent.parent


@functools.cache
def sources_digest(root: Path = _PACKAGE) -> str:
    """A digest (32 hex digits) of the name and content of every ``.py`` file in the
    :data:`KERNEL_PACKAGES` under ``root`` (the ``deltaprop`` package), read once a process."""
    digest = hashlib.blake2b(digest_size=16)
    for package in KERNEL_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(f"{package}/{path.name}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def stamp_cache(dispatcher: Any, digest: str | None = None) -> Any:
    """Add ``digest`` (:func:`sources_digest` by default) to the source stamp of a numba
    dispatcher's on-disk cache, so that its cached machine code loads only while that
    digest holds; returns the dispatcher (one without a cache is returned unchanged)."""
    file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if file is not None and hasattr(file, "_source_stamp"):
        file._source_stamp = (file._source_stamp, digest or sources_digest())
    return dispatcher


def jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)`` whose cache is stamped by :func:`stamp_cache`:
    the decorator every compiled kernel of deltaprop is made with (numba is imported here,
    on the first use)."""
    import numba

    njit = numba.njit(cache=True, **options)

    def decorate(function: Callable[..., Any]) -> Any:
        return stamp_cache(njit(function))

    return decorate
