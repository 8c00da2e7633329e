"""The switch and the loader for the compiled kernels of the training hot loop (numba).

The kernels (:mod:`deltaprop.core.kernels`) fuse the elementwise work of one equation into
one pass with no temporaries: the bias add, the ReLU derivative, the softmax and its cross-entropy, the
gradient statistics of a step, and the Adam update. Two users load them:

* the compiled training loop (:mod:`deltaprop.fast.loop`), which runs every network the
  trainer can train compiled, whatever its size (:func:`load`);
* the per-operation calls from Python (an activation, a loss or an optimizer step given a
  preallocated output; the Python loop, and a user's own calls), which take the kernels for
  arrays of at least :data:`MIN_SIZE` entries (:func:`get`) and the NumPy code beside each
  equation below that: on a small array one NumPy call is as quick as one compiled call,
  and the NumPy form is the reference.

Whenever numba is missing, and while the kernels are switched off, the NumPy code runs
everywhere, with the same results: bit for bit for the bias, ReLU and Adam (except that Adam
flushes subnormal moments to zero, as XLA does); to a few units in the last place where
``exp`` and ``log`` enter. Each choice depends only on the switch, on numba being installed
and, for a per-operation call, on the size of its array, never on what the process did
before: a small fit gives the same bits before and after a large one. numba is imported on
the first use. The machine code is cached beside each module (``cache=True``): compilation
is paid once per machine, and a new process loads it (``bench/compile_time.py``). Switch the
kernels, and with them the compiled loop, off with ``DELTAPROP_FUSED=0`` or
:func:`set_enabled`: the Python loop, the reference, then trains.

>>> from deltaprop.core import fused as _fused
>>> _fused.MIN_SIZE  # the smallest array (entries) that a per-operation call gives the kernels
4096
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "COMPILE_LOGGER",
    "MIN_SIZE",
    "accepts_out",
    "announce_compiles",
    "compiled",
    "contiguous",
    "enabled",
    "get",
    "load",
    "load_quickly",
    "set_enabled",
]

MIN_SIZE = 4096
"""A per-operation call from Python on an array of at least this many entries takes the
kernels (:func:`get`); the compiled loop takes them for every size (:func:`load`)."""

_enabled = os.environ.get("DELTAPROP_FUSED", "1").strip().lower() not in ("0", "false", "no")
_kernels: ModuleType | None = None
_missing = False


def set_enabled(flag: bool) -> bool:
    """Switch the compiled kernels on or off; returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous


def enabled() -> bool:
    """Whether the kernels are switched on (they may still be unloaded or unavailable)."""
    return _enabled


def load() -> ModuleType | None:
    """The kernels module (numba imported on the first call), or ``None`` while switched off
    and without numba. The compiled loop's test (:func:`deltaprop.fast.loop.epoch_kernels`)."""
    global _kernels, _missing
    if not _enabled or _missing:
        return None
    if _kernels is None:
        try:
            from deltaprop.core import kernels as _fused_kernels
        except ImportError:  # a Python that numba does not support yet (see pyproject.toml)
            _missing = True
            return None
        load_quickly(*vars(_fused_kernels).values())
        _kernels = _fused_kernels
    return _kernels


def get(n: int) -> ModuleType | None:
    """The kernels module for a per-operation call on ``n`` entries, or ``None`` for the
    NumPy path: :func:`load`'s answer for ``n >= MIN_SIZE``, ``None`` below (whatever sizes
    were asked about before)."""
    return None if n < MIN_SIZE else load()


@functools.cache
def compiled(kernel: Callable[..., None]) -> Callable[..., None]:
    """A class's own kernel (e.g. ``Softmax.kernel_rows_forward``) compiled as the compiled
    loop compiles it (the same numba options, so one on-disk cache serves both), for its
    per-operation use from Python; call only where :func:`get` gave the kernels."""
    from deltaprop.core.jit import jit

    function = jit(nogil=True, error_model="numpy")(kernel)
    load_quickly(function)
    return function


QUICK_NUMBA = ((0, 60), (0, 69))
"""The numba versions (``[from, to)``, major and minor) whose cache loading
:func:`load_quickly` skips the context refresh for; checked on numba 0.68: every symbol
that the cached machine code of ``deltaprop`` calls is known to LLVM without it. Any other
version loads as numba does."""


def load_quickly(*functions: Any) -> None:
    """Let these numba dispatchers (anything else is ignored) load their cached machine code
    without numba's refresh of its compiler's context.

    numba refreshes that context (imports its lowering and typing modules, installs their
    registries: about 0.3 s on the development machine, more than the cached training loop
    takes to load) before it looks in the on-disk cache, though running cached machine code
    needs none of it: only numba's runtime (NRT), whose functions :func:`_load_cached`
    registers, and the C helpers and math functions that the context registers when it is
    made. A compilation (nothing cached yet, or another type) still refreshes first, as
    numba always does, and so does a load that fails here (then done numba's way). The
    machine code is the same either way, and so are the bits.
    """
    if not _quick_numba():
        return
    from numba.core.caching import Cache

    for function in functions:
        cache = getattr(function, "_cache", None)
        if isinstance(cache, Cache) and not getattr(cache, "_quick", False):
            cache.load_overload = functools.partial(_load_cached, cache)  # type: ignore[method-assign]
            cache._quick = True  # type: ignore[attr-defined]


COMPILE_LOGGER = "deltaprop.compile"
"""The logger of :func:`announce_compiles`' records (INFO: silent unless a handler is set,
as a :class:`deltaprop.train.ProgressBar` sets one)."""


def announce_compiles(function: Any, what: str | Callable[[Any], str]) -> None:
    """Log where this numba dispatcher compiles (nothing in its on-disk cache for the
    types it is called with): an INFO record when the compile starts, another when it ends
    (its attribute ``seconds``: how long it took), on the logger :data:`COMPILE_LOGGER`.
    ``what`` names it in the records ("the training loop"), or gives its name for a numba
    signature (a tuple of argument types); the dtype of its first array argument follows.

    A first fit on a new machine compiles the training loop of its dtype (tens of seconds,
    ``bench/compile_time.py``) inside what looks like its first epoch; the command shows
    these records, so that the wait has a reason. A load from the cache logs nothing.
    Call after :func:`load_quickly` (it wraps the loader that one installs)."""
    from numba.core.caching import Cache

    cache = getattr(function, "_cache", None)
    if not isinstance(cache, Cache) or getattr(cache, "_announced", False):
        return
    load, save = cache.load_overload, cache.save_overload
    started: list[float] = []

    def load_or_announce(sig: Any, target_context: Any) -> Any:
        result = load(sig, target_context)
        if result is None:
            started.append(time.perf_counter())
            logging.getLogger(COMPILE_LOGGER).info(
                "compiling %s for %s: tens of seconds, once on this machine (numba keeps it "
                "in its cache; later runs load it in under a second)", _name(what, sig),
                _dtype_of(sig),
            )  # fmt: skip
        return result

    def save_and_announce(sig: Any, data: Any) -> None:
        save(sig, data)
        if started:
            seconds = time.perf_counter() - started.pop()
            logging.getLogger(COMPILE_LOGGER).info(
                "compiled %s for %s in %.0f s", _name(what, sig), _dtype_of(sig), seconds,
                extra={"seconds": seconds},
            )  # fmt: skip

    cache.load_overload = load_or_announce  # type: ignore[method-assign]
    cache.save_overload = save_and_announce  # type: ignore[method-assign]
    cache._announced = True  # type: ignore[attr-defined]


def _name(what: str | Callable[[Any], str], sig: Any) -> str:
    return what if isinstance(what, str) else what(sig)


def _dtype_of(sig: Any) -> str:
    """The dtype of the first floating-point matrix among a numba signature's argument
    types (the training loop's ``float32`` or ``float64``: its inputs ``X``; its 1-D
    settings are float64 in both), else of the first floating-point array."""
    from numba.core import types

    arrays = [a for a in sig if isinstance(getattr(a, "dtype", None), types.Float)]
    if not arrays:
        return "its arguments"
    return str(min(arrays, key=lambda a: getattr(a, "ndim", 0) < 2).dtype)


@functools.cache
def _quick_numba() -> bool:
    import numba

    try:
        version = tuple(int(part) for part in numba.__version__.split(".")[:2])
    except ValueError:  # a development build: numba's own way
        return False
    return QUICK_NUMBA[0] <= version < QUICK_NUMBA[1]


def _load_cached(cache: Any, sig: Any, target_context: Any) -> Any:
    """numba's ``Cache.load_overload`` but the context's refresh (see :func:`load_quickly`);
    ``None`` where nothing is cached for ``sig``."""
    try:
        from numba.core.runtime import rtsys

        rtsys.initialize(target_context)
        with cache._guard_against_spurious_io_errors():
            return cache._load_overload(sig, target_context)
    except Exception:  # anything unforeseen: numba's own way, refresh first
        return type(cache).load_overload(cache, sig, target_context)


def accepts_out(*methods: Callable[..., Any]) -> bool:
    """Whether every one of these methods takes an ``out`` argument (user subclasses of an
    activation or a loss may not: they are then called without one). Asked per function,
    once (``inspect.signature`` costs ~0.1 ms, and every new layer asks)."""
    return all(_takes_out(getattr(m, "__func__", m)) for m in methods)


def _takes_out(function: Callable[..., Any]) -> bool:
    try:
        return _takes_out_cached(function)
    except TypeError:  # an unhashable callable object: not cached
        return _signature_has_out(function)


@functools.cache
def _takes_out_cached(function: Callable[..., Any]) -> bool:
    return _signature_has_out(function)


def _signature_has_out(function: Callable[..., Any]) -> bool:
    try:
        return "out" in inspect.signature(function).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def contiguous(a: Any, b: Any, c: Any = None) -> bool:
    """Whether the compiled kernels can take these arrays (NumPy, C-contiguous)."""
    return (
        isinstance(a, np.ndarray)
        and isinstance(b, np.ndarray)
        and a.flags.c_contiguous
        and b.flags.c_contiguous
        and (c is None or (isinstance(c, np.ndarray) and c.flags.c_contiguous))
    )
