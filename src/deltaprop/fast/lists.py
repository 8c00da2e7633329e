"""numba typed lists of arrays for the compiled loop, built by cached compiled code.

:class:`numba.typed.List` built from Python (``List([a, b])``, ``len``, ``lst[i]``) compiles
its own helpers in every new process (about 0.9 s on the development machine, more than
the whole cached training loop takes to load: 0.04 s); :func:`typed_list` builds the same
list with two small functions that numba's on-disk cache keeps, so that a fit in a fresh
process pays only the loading (``bench/compile_time.py`` measures it), without numba's
refresh of its compiler (:func:`deltaprop.core.fused.load_quickly`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from numba.typed import List

from deltaprop.core import fused as _fused
from deltaprop.core.jit import jit

__all__ = ["typed_list"]

_jit = jit(nogil=True)


@_jit
def _start(a: Any) -> Any:  # pragma: no cover - compiled
    out = List()
    out.append(a)
    return out


@_jit
def _push(out: Any, a: Any) -> None:  # pragma: no cover - compiled
    out.append(a)


_fused.load_quickly(_start, _push)


def typed_list(arrays: Sequence[Any]) -> Any:
    """A :class:`numba.typed.List` of ``arrays`` (at least one; all of one numba type: dtype,
    dimensions and layout)."""
    if not arrays:
        raise ValueError("typed_list needs at least one array. Received: an empty sequence")
    out = _start(arrays[0])
    for a in arrays[1:]:
        _push(out, a)
    return out
