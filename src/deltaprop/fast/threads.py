"""How many threads the compiled loop (:mod:`deltaprop.fast.loop`) runs, and BLAS's.

No numba here: the trainer's validation passes (:mod:`deltaprop.train.stopping`) use
:func:`blas_threads` without loading the compiled loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

from deltaprop.core.backend import usable_cores

__all__ = ["MAX_THREADS", "MIN_WORK_PER_THREAD", "blas_threads", "default_threads", "work_threads"]

MAX_THREADS = 4
"""The compiled loop's threads by default, at most (see :func:`default_threads`)."""

MIN_WORK_PER_THREAD = 500_000
"""By default a step takes one thread per this many multiply-adds of its forward products
(the batch's rows times the network's weights), at least one and at most
:func:`default_threads`: a step of a small network on small batches is over in tens of
microseconds, and threads that meet at the step's barriers, or wake for a call of one step,
would only wait for each other. On the 2 busy development cores (load 5-7), two threads
against one: a 4-32-3 network at batch 32, 690 against 42 µs a step; an
``MLPRegressor`` 10-100-1 at batch 200 (one step an epoch), 1.27 against 0.15 ms an epoch.
Digits 64-100-10 at batch 200 (1.5 million) keeps two threads, 784-256-128-10 four. The
bits do not depend on it (:mod:`deltaprop.fast.blocks`); ``DELTAPROP_THREADS`` overrides
it."""


def work_threads(rows: int, weights: int) -> int:
    """The threads a step of ``rows`` rows through ``weights`` weights is worth by default
    (:data:`MIN_WORK_PER_THREAD`).

    >>> work_threads(32, 4 * 32 + 32 * 3), work_threads(200, 64 * 100 + 100 * 10)
    (1, 2)
    """
    return max(1, rows * weights // MIN_WORK_PER_THREAD)


def default_threads() -> int:
    """Threads for the compiled loop: ``DELTAPROP_THREADS`` if set, else the cores this
    process may run on, at most :data:`MAX_THREADS` (measured on 2 cores; more threads
    split each batch into smaller products) and at most ``OMP_NUM_THREADS`` where that is
    set (joblib's workers, e.g. ``GridSearchCV(n_jobs=...)``, set it to share the cores)."""
    value = os.environ.get("DELTAPROP_THREADS", "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"DELTAPROP_THREADS must be a positive integer. Received: {value!r}")
        return n
    n = min(usable_cores(), MAX_THREADS)
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return max(1, n)


@functools.cache
def _blas_controller() -> Any:
    """The loaded BLAS libraries under threadpoolctl (SciPy's, which numba's ``np.dot``
    calls, and NumPy's, which the validation passes between epochs use), or ``None``."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - it comes with scikit-learn
        return None
    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with every BLAS on ``n`` threads (``None``: unchanged)."""
    controller = None if n is None else _blas_controller()
    if controller is None:
        yield
        return
    limiter = controller.limit(limits=n)
    try:
        yield
    finally:
        limiter.restore_original_limits()
