"""How the compiled loop's threads meet: spin barriers, and jobs posted to helper threads.

The threads of :func:`deltaprop.fast.epoch.run_steps` meet at spin barriers (an atomic
counter read with acquire ordering, ``pause``, then ``sched_yield``); the helper threads
of :class:`deltaprop.fast.loop.CompiledLoop` wait for their next job with
:func:`wait_job` and are handed one with :func:`post_job`.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from deltaprop.core.jit import jit

__all__ = ["ABORT", "barrier", "post_job", "wait_job"]

ABORT = 8
"""Index of the flag in a ``sync`` array that a failing thread sets (its own cache line)."""

_jit = jit(nogil=True, error_model="numpy")
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_POSIX = os.name == "posix"


# ---------------------------------------------------------------------------------------
# The threads meet at spin barriers: an atomic counter, read with acquire ordering.
# ---------------------------------------------------------------------------------------
@intrinsic
def _load_acquire(typingctx: Any, arr: Any, idx: Any) -> Any:  # pragma: no cover - typing
    sig = types.int64(arr, idx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def _fetch_add(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:  # pragma: no cover
    sig = types.int64(arr, idx, val)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "acq_rel")

    return sig, codegen


def _call_without_arguments(name: str, returns: Any, available: bool) -> Any:
    """An intrinsic that calls the external function ``name()`` (a no-op where not
    ``available``), resolved by name when the machine code is loaded."""

    @intrinsic
    def call(typingctx: Any) -> Any:  # pragma: no cover - typing
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            if available:
                fnty = ir.FunctionType(returns, [])
                builder.call(cgutils.get_or_insert_function(builder.module, fnty, name), [])
            return context.get_dummy_value()

        return types.void(), codegen

    return call


_pause = _call_without_arguments("llvm.x86.sse2.pause", ir.VoidType(), _X86)
"""The x86 ``pause`` hint in a spin loop (nothing elsewhere)."""
_yield = _call_without_arguments("sched_yield", ir.IntType(32), _POSIX)
"""``sched_yield()``: give the core to another thread (POSIX; nothing elsewhere)."""


@_jit
def barrier(sync: Any, n_threads: int, generation: int) -> bool:  # pragma: no cover
    """Wait until all ``n_threads`` have arrived at barrier number ``generation`` (1, 2, ...);
    ``sync[0]`` counts arrivals (zero when the threads start). False, at once, when
    ``sync[ABORT]`` is set: a thread failed and will not come."""
    if n_threads == 1:
        return True
    _fetch_add(sync, 0, np.int64(1))  # type: ignore[call-arg]
    target = generation * n_threads
    spins = 0
    while _load_acquire(sync, 0) < target:
        if _load_acquire(sync, ABORT) != 0:
            return False
        _pause()
        spins += 1
        if spins > 4000:  # a thread is not running (a busy machine): give up the core
            _yield()
    return True


@_jit
def wait_job(control: Any, seen: int) -> int:  # pragma: no cover - compiled
    """A helper thread's wait for the next job: ``control[0]`` once it differs from
    ``seen`` (spinning, then yielding the core), or -1 after about a millisecond, when
    the caller should block instead."""
    spins = 0
    while True:
        got: int = _load_acquire(control, 0)  # type: ignore[call-arg]
        if got != seen:
            return got
        _pause()
        spins += 1
        if spins > 4000:
            _yield()
        if spins > 50_000:
            return -1


@_jit
def post_job(control: Any) -> int:  # pragma: no cover - compiled
    """Publish the next job (everything written before is visible to the helpers that see
    it); returns its number."""
    return _fetch_add(control, 0, np.int64(1)) + 1  # type: ignore[call-arg]
