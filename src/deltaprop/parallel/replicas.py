"""Keeping the ranks together: the same initial weights and seeds on every rank, checks that
the ranks hold the same data and weights, shards assembled on every rank, and one rank's
error ending the whole job instead of leaving the others waiting.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.parallel.communicator import Communicator, MPICommunicator

if TYPE_CHECKING:
    from deltaprop.core import Network

__all__ = [
    "abort_on_error",
    "broadcast_parameters",
    "check_replicated",
    "check_synchronized",
    "gather_rows",
    "shared_seed",
]


def broadcast_parameters(net: Network, comm: MPICommunicator, root: int = 0) -> None:
    """Give every rank ``root``'s weights (and batch-norm running statistics), in place.

    Call it after building the network when the ranks might not have drawn the same
    initial weights (different seeds, or ``seed=None``).
    """
    comm.broadcast(net.parameters, root)
    buffers = {name: np.ascontiguousarray(value) for name, value in net.buffers()}
    for value in buffers.values():
        comm.broadcast(value, root)
    if buffers:
        net.set_buffers(buffers)


def shared_seed(seed: int | np.random.Generator | None, comm: MPICommunicator | None) -> Any:
    """Rank 0's seed on every rank, so that all ranks shuffle and split alike.

    Parameters
    ----------
    seed : int, Generator or None
        An integer is replaced by rank 0's integer. ``None`` becomes a fresh integer drawn
        on rank 0. A Generator draws an integer on every rank (so all advance alike) and
        rank 0's is used.
    comm : MPICommunicator or None
        Without one, ``seed`` is returned unchanged.

    Returns
    -------
    int, or ``seed`` itself without a communicator
    """
    if comm is None:
        return seed
    if seed is None:
        value: int | None = int(np.random.SeedSequence().entropy % 2**63)  # type: ignore[operator]
    elif isinstance(seed, np.random.Generator):
        value = int(seed.integers(2**63 - 1))
    else:
        value = int(seed)
    return int(comm.comm.bcast(value if comm.rank == 0 else None, root=0))


def _fingerprint(a: Any) -> tuple[Any, ...]:
    """Shape, dtype and CRC-32 of an array's bytes (one linear pass over the data)."""
    if a is None:
        return (None,)
    if isinstance(a, np.random.Generator):
        state = repr(sorted(a.bit_generator.state.items())).encode()
        return ("Generator", zlib.crc32(state))
    if isinstance(a, int | float | str):
        return (type(a).__name__, a)
    arr = np.ascontiguousarray(a)
    if arr.dtype.hasobject:
        return (arr.shape, "object", zlib.crc32(repr(arr.tolist()).encode()))
    return (arr.shape, arr.dtype.str, zlib.crc32(arr.data.cast("B")))


def check_replicated(comm: MPICommunicator | None, **values: Any) -> None:
    """Raise on every rank unless all ranks hold the same arrays, seeds and settings.

    Replicated training needs identical data and seeds on every rank; without them the
    ranks draw different batches and the sums mean nothing, silently. The check costs one
    pass over the data (a CRC-32) and one ``allgather`` of the fingerprints.

    Parameters
    ----------
    comm : MPICommunicator or None
        Nothing is checked without one.
    **values
        Named arrays (``X=X, y=y, sample_weight=w``), integers, strings or Generators
        (compared by their state).

    Raises
    ------
    ValueError
        On every rank, naming the values and the ranks that differ from rank 0.
    """
    if comm is None or comm.size == 1:
        return
    mine = {name: _fingerprint(v) for name, v in values.items()}
    everyone: list[dict[str, tuple[Any, ...]]] = comm.comm.allgather(mine)
    problems = []
    for name in values:
        ref = everyone[0].get(name)
        ranks = [r for r, fp in enumerate(everyone) if fp.get(name) != ref]
        if ranks:
            what = [everyone[r].get(name) for r in [0, *ranks]]
            problems.append(f"{name} differs on ranks {ranks} from rank 0 ({what})")
    if problems:
        raise ValueError(
            "Replicated data-parallel training needs the same data and seeds on every rank, "
            "but " + "; ".join(problems) + ". Read the same rows on every rank (or read "
            "shards with shard_rows and assemble them with gather_rows) and pass a seed "
            "made common by shared_seed."
        )


def check_synchronized(net: Network, comm: MPICommunicator | None) -> None:
    """Raise on every rank unless all ranks hold bit-identical weights.

    Raises
    ------
    RuntimeError
        Naming the ranks whose weights differ from rank 0's.
    """
    if comm is None or comm.size == 1:
        return
    mine = (_fingerprint(net.parameters), [_fingerprint(v) for _, v in net.buffers()])
    everyone = comm.comm.allgather(mine)
    ranks = [r for r, fp in enumerate(everyone) if fp != everyone[0]]
    if ranks:
        raise RuntimeError(
            f"The weights on ranks {ranks} differ from those on rank 0: the ranks have "
            "drifted apart (different initial weights, data or seeds, or an MPI whose "
            "reductions differ between ranks)."
        )


def gather_rows(local: Any, comm: MPICommunicator | None) -> np.ndarray:
    """Concatenate every rank's rows, in rank order, on every rank (``Allgatherv``).

    Parameters
    ----------
    local : array-like of shape (m_r, ...)
        This rank's rows, e.g. ``data[shard_rows(n, comm)]``; the trailing shape and the
        dtype must agree across ranks (numeric dtypes travel as buffers, others pickled).
    comm : MPICommunicator or None
        Without one, ``local`` is returned as an array.

    Returns
    -------
    ndarray of shape (Σ_r m_r, ...)

    Raises
    ------
    ValueError
        On every rank, if the trailing shapes or dtypes differ.
    """
    local = np.asarray(local)
    if comm is None or comm.size == 1:
        return local
    if local.ndim == 0:
        raise ValueError("gather_rows needs arrays with a row axis. Received: a scalar")
    layouts = comm.comm.allgather((local.shape[1:], local.dtype.str, local.shape[0]))
    if len({(s, d) for s, d, _ in layouts}) > 1:
        raise ValueError(
            "gather_rows needs the same trailing shape and dtype on every rank. Received "
            "(trailing shape, dtype) per rank: " + str([(s, d) for s, d, _ in layouts])
        )
    if local.dtype.kind not in "biufc":
        return np.concatenate(comm.comm.allgather(local))
    row = int(np.prod(local.shape[1:], dtype=np.int64))
    counts = [m * row for _, _, m in layouts]
    out = np.empty((sum(m for _, _, m in layouts), *local.shape[1:]), dtype=local.dtype)
    comm.comm.Allgatherv(np.ascontiguousarray(local), [out, counts])
    return out


_DRAIN_S = 0.2
"""Seconds between writing a rank's last words and ``MPI_Abort``: MPICH's launcher drops
what a rank wrote just before it aborted in about one job of thirty without it."""


def _abort_job(comm: Any, size: int, what: str, detail: str, errorcode: int) -> None:
    """Write ``rank R of N <what>; aborting the MPI job.`` and ``detail`` to stderr, then
    ``MPI_Abort``: every process of the job ends (the call does not return)."""
    rank = int(comm.rank)
    sys.stderr.write(
        f"deltaprop.parallel: rank {rank} of {size} {what}; aborting the MPI job.\n{detail}"
    )
    sys.stderr.flush()
    time.sleep(_DRAIN_S)  # else the launcher may end the job before it forwards the message
    comm.abort(errorcode)


def _exit_code(exc: BaseException) -> int:
    """The job's exit code for ``exc``: a non-zero integer ``SystemExit`` code, else 1
    (130 for ``KeyboardInterrupt``, as a shell reports Ctrl-C)."""
    if isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code != 0:
        return exc.code
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def _what(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"exited (SystemExit with code {exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "was interrupted (KeyboardInterrupt)"
    return f"failed ({type(exc).__name__})"


@contextmanager
def _abort_on_signals(comm: Any, size: int) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM abort the whole job, naming the rank.

    Python runs a handler between two bytecodes of the main thread, so a rank blocked in
    an MPI collective handles the signal when the collective returns. Outside the main
    thread handlers cannot be installed, and the block runs without them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        where = "".join(traceback.format_stack(frame)) if frame is not None else ""
        _abort_job(comm, size, f"received {name}", f"It was here:\n{where}", 128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def abort_on_error(
    comm: Communicator | None, *, passing: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """End the whole MPI job when a rank leaves the block, with the reason on stderr.

    Under MPI a rank that leaves early would leave the others waiting forever in their
    next collective. Inside this block, with 2 or more ranks, every way out but the
    normal one ends every process of the job through ``MPI_Abort``, after a line on
    stderr that names the rank and what happened
    (``deltaprop.parallel: rank 1 of 2 failed (ValueError); aborting the MPI job.``):

    * an exception, ``SystemExit`` (``sys.exit()`` in a callback, whatever its code) or
      ``KeyboardInterrupt``: the line, then the traceback;
    * SIGINT or SIGTERM sent to the rank's process: the line (``received SIGINT``), then
      where the rank was. The previous handlers are restored when the block ends.

    The job's exit code is non-zero: a ``SystemExit``'s integer code, 130 for
    ``KeyboardInterrupt``, 128 + the signal's number for a signal, 1 otherwise (as far
    as the launcher passes it on). ``python -m mpi4py script.py`` aborts on an unhandled
    exception of a whole script. Without a communicator, or with one process, nothing is
    installed and everything propagates as usual.

    ``passing`` names exceptions that every rank raises together (from the same reduced
    numbers, such as a divergence of the allreduced loss): they propagate on each rank
    without an abort, so that the caller can handle them.

    Examples
    --------
    >>> with abort_on_error(None):
    ...     pass
    """
    size = 1 if comm is None else int(comm.size)
    if size == 1 or getattr(comm, "abort", None) is None:
        yield
        return
    try:
        with _abort_on_signals(comm, size):
            yield
    except GeneratorExit:
        raise
    except passing:
        raise
    except BaseException as exc:
        detail = "".join(traceback.format_exception(exc))
        _abort_job(comm, size, _what(exc), detail, _exit_code(exc))
        raise  # reached only where abort returns (a stand-in communicator in a test)
