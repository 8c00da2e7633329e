"""Data-parallel training over MPI.

Synchronous data parallelism, the *replicated* way: every rank holds the same data and the
same seed, so every rank draws the same global mini-batch ``B``. Rank ``r`` computes the
gradient of its contiguous share ``B_r`` (:meth:`MPICommunicator.split`) normalised by the
weight of the whole batch, and one ``Allreduce`` over the flat gradient buffer sums them::

    Σ_r [ Σ_{i∈B_r} w_i ∇L_i / Σ_{i∈B} w_i  +  (α / (size · Σ_{i∈B} w_i)) W ]
        = Σ_{i∈B} w_i ∇L_i / Σ_{i∈B} w_i  +  (α / Σ_{i∈B} w_i) W  =  ∇J_B

which is the gradient a single process computes on ``B`` (uneven shares, empty shares and
sample weights included; see :meth:`deltaprop.train.trainer.Trainer._distributed_backward`).
Every rank then applies the same optimizer step to the same weights, so the weights, the
validation metrics, early stopping and the history agree on every rank without further
communication. Only the shares of the arithmetic differ, so the result equals the
single-process one up to rounding (about 1e-15 relative per step in float64).
Batch-normalization statistics and dropout masks are per rank: with them the result is
still a valid data-parallel run, but not the single-process one.

MPI comes from mpi4py, imported lazily: nothing here imports it unless a communicator is
asked for, so single-process use never needs MPI. ``pip install 'deltaprop[mpi]'`` brings
mpi4py and the ``mpich`` wheel; on a cluster, install mpi4py built against the site's MPI
instead (``docs/distributed.md``).

Reading shards. A launcher can let each rank read only its share of the rows
(:func:`shard_rows`), for instance to parse a large CSV file in parallel, and then
:func:`gather_rows` assembles the full arrays on every rank for the replicated training
above, which reproduces single-process training exactly. Training on shards that are
never assembled (each rank shuffling and batching its own rows) needs more support from
the :class:`~deltaprop.train.trainer.Trainer` (global step counts, batch weights, epoch losses
and validation metrics) and is not provided.

Examples
--------
>>> from deltaprop.parallel.mpi import get_communicator, is_root, shard_rows
>>> comm = get_communicator("auto")  # None unless launched by mpiexec/srun with size > 1
>>> comm is None and is_root(comm)
True
>>> shard_rows(10, comm)
slice(0, 10, None)
"""

from __future__ import annotations

import os
import sys
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mpi4py import MPI

    from deltaprop.core import Network
    from deltaprop.train import Communicator

__all__ = [
    "ENV_SWITCH",
    "MPICommunicator",
    "abort_on_error",
    "broadcast_parameters",
    "check_replicated",
    "check_synchronized",
    "even_share",
    "gather_rows",
    "get_communicator",
    "get_rank",
    "is_root",
    "launcher_rank",
    "launcher_size",
    "shard_rows",
    "shared_seed",
]

ENV_SWITCH = "DELTAPROP_DISTRIBUTED"
"""Environment variable read by ``get_communicator("auto")``: ``1`` forces MPI, ``0`` turns
it off, unset or ``auto`` detects the launcher."""

# Set by the process managers for each process they start. Slurm's own variables
# (SLURM_NTASKS, SLURM_PROCID) are deliberately absent: they are also set in the batch
# script of an ``sbatch --ntasks=4`` job, which is a single process. ``srun --mpi=pmi2``
# and ``srun --mpi=pmix`` set the PMI/PMIx variables below.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# ---------------------------------------------------------------------------------------
# The communicator
# ---------------------------------------------------------------------------------------
def even_share(n: int, rank: int, size: int) -> slice:
    """The contiguous rows ``[start, stop)`` of ``n`` that ``rank`` of ``size`` owns.

    The shares are as even as possible: the first ``n % size`` ranks get one row more. With
    ``n < size`` the last ranks get empty shares.

    Parameters
    ----------
    n : int
        Number of rows (``n ≥ 0``).
    rank, size : int
        ``0 ≤ rank < size``.

    Returns
    -------
    slice
        With ``step=None``; the shares of ranks ``0, ..., size-1`` tile ``range(n)`` in order.

    Examples
    --------
    >>> [even_share(7, r, 3) for r in range(3)]
    [slice(0, 3, None), slice(3, 5, None), slice(5, 7, None)]
    >>> even_share(1, 1, 2)
    slice(1, 1, None)
    """
    if n < 0:
        raise ValueError(f"n must be a non-negative integer. Received: n={n!r}")
    if not 0 <= rank < size:
        raise ValueError(f"rank must be in [0, size). Received: rank={rank!r}, size={size!r}")
    q, extra = divmod(n, size)
    start = rank * q + min(rank, extra)
    return slice(start, start + q + (rank < extra))


class MPICommunicator:
    """The :class:`~deltaprop.train.trainer.Communicator` of an mpi4py communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Defaults to ``MPI.COMM_WORLD``.

    Attributes
    ----------
    comm : mpi4py.MPI.Comm
        For any other collective (``comm.bcast``, ``comm.allgather``, ...).
    rank, size : int
        This process's rank and the number of processes.
    """

    def __init__(self, comm: MPI.Comm | None = None) -> None:
        mpi = _import_mpi()
        self.comm: MPI.Comm = mpi.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()

    def __repr__(self) -> str:
        return f"MPICommunicator(rank={self.rank}, size={self.size})"

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that writes files."""
        return self.rank == 0

    def split(self, n: int) -> slice:
        """This rank's contiguous share of a global batch of ``n`` rows (:func:`even_share`)."""
        return even_share(n, self.rank, self.size)

    def allreduce(self, buffer: np.ndarray) -> None:
        """Sum ``buffer`` over all ranks, in place: one ``Allreduce(IN_PLACE, SUM)``.

        Parameters
        ----------
        buffer : ndarray
            C-contiguous, with the same shape and dtype on every rank.

        Raises
        ------
        ValueError
            If ``buffer`` is not C-contiguous (MPI would sum a copy).
        """
        if not buffer.flags.c_contiguous:
            raise ValueError(
                "allreduce needs a C-contiguous buffer to sum in place. Received: an array "
                f"of shape {buffer.shape} with strides {buffer.strides}"
            )
        mpi = _import_mpi()
        self.comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        """Overwrite ``buffer`` with ``root``'s, in place: one ``Bcast``."""
        if not buffer.flags.c_contiguous:
            raise ValueError(
                "broadcast needs a C-contiguous buffer. Received: an array of shape "
                f"{buffer.shape} with strides {buffer.strides}"
            )
        self.comm.Bcast(buffer, root=root)

    def abort(self, errorcode: int = 1) -> None:
        """End every process of the job (``MPI_Abort``); does not return."""
        self.comm.Abort(errorcode)


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "Distributed training needs mpi4py and an MPI library: pip install "
            "'deltaprop[mpi]' (mpi4py with the mpich wheel), or on a cluster mpi4py built "
            f"against the site's MPI. Set {ENV_SWITCH}=0 to train in one process. "
            f"The import failed with: {exc}"
        ) from exc
    return MPI


# ---------------------------------------------------------------------------------------
# Finding the launcher
# ---------------------------------------------------------------------------------------
def _env_int(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value)
    return None


def launcher_size() -> int | None:
    """The number of processes the MPI launcher started, read from its environment.

    Reads ``PMI_SIZE`` (MPICH, Intel MPI, ``srun --mpi=pmi2``), ``OMPI_COMM_WORLD_SIZE``
    (Open MPI) and ``MV2_COMM_WORLD_SIZE`` (MVAPICH2); mpi4py is not imported.

    Returns
    -------
    int or None
        ``None`` when no such variable is set; ``0`` when a launcher is detected (for
        instance through ``PMIX_RANK`` alone) but its size is not in the environment.
    """
    size = _env_int(_SIZE_VARS)
    if size is not None:
        return size
    return 0 if _env_int(_RANK_VARS) is not None else None


def launcher_rank() -> int:
    """This process's rank according to the launcher's environment, ``0`` without one."""
    rank = _env_int(_RANK_VARS)
    return 0 if rank is None else rank


def get_communicator(mode: bool | str = "auto") -> MPICommunicator | None:
    """The communicator to give :class:`~deltaprop.train.trainer.Trainer`, or ``None``.

    Parameters
    ----------
    mode : {"auto", True, False}, default="auto"
        ``False``: ``None``, one process. ``True``: an :class:`MPICommunicator` over
        ``COMM_WORLD``, even of size 1. ``"auto"``: the environment variable
        ``DELTAPROP_DISTRIBUTED`` decides when set (``1`` as ``True``, ``0`` as ``False``);
        otherwise an :class:`MPICommunicator` when the process was started by an MPI
        launcher (``mpiexec``, ``mpirun``, ``srun --mpi=...``) with more than one process,
        else ``None``, without importing mpi4py.

    Returns
    -------
    MPICommunicator or None

    Raises
    ------
    ValueError
        For another ``mode`` or an unreadable ``DELTAPROP_DISTRIBUTED``.
    ImportError
        When MPI is asked for (or a launcher with several processes is detected) but
        mpi4py cannot be imported; the message says what to install.

    Examples
    --------
    >>> get_communicator(False) is None
    True
    """
    if mode is False:
        return None
    if mode is True:
        return MPICommunicator()
    if mode != "auto":
        raise ValueError(f"distributed must be 'auto', True or False. Received: {mode!r}")
    env = os.environ.get(ENV_SWITCH)
    if env is not None and env.strip().lower() not in ("", "auto"):
        value = env.strip().lower()
        if value in _TRUE:
            return MPICommunicator()
        if value in _FALSE:
            return None
        raise ValueError(
            f"{ENV_SWITCH} must be 1, 0 or auto (also true/false, yes/no, on/off). "
            f"Received: {ENV_SWITCH}={env!r}"
        )
    size = launcher_size()
    if size is None or size == 1:
        return None
    comm = MPICommunicator()
    return comm if comm.size > 1 else None


def get_rank(comm: Communicator | None = None) -> int:
    """This process's rank: ``comm.rank``, or the launcher's rank (``0`` without one)."""
    return launcher_rank() if comm is None else int(comm.rank)


def is_root(comm: Communicator | None = None) -> bool:
    """True in the process that should write files, print and show progress: rank 0.

    Without a communicator the launcher's environment decides, so that copies of a
    script started by ``mpiexec`` but training alone still leave the writing to one.

    Examples
    --------
    >>> import json
    >>> def save(path, history, comm=None):
    ...     if is_root(comm):
    ...         with open(path, "w") as f:
    ...             json.dump(history, f)
    """
    return get_rank(comm) == 0


def shard_rows(n_rows: int, comm: Communicator | None = None) -> slice:
    """The rows of a data set of ``n_rows`` that this rank reads (:func:`even_share`).

    ``slice(0, n_rows)`` without a communicator. Put the shards together with
    :func:`gather_rows` for replicated training.
    """
    if comm is None:
        return slice(0, n_rows)
    return even_share(n_rows, int(comm.rank), int(comm.size))


# ---------------------------------------------------------------------------------------
# Keeping the ranks together
# ---------------------------------------------------------------------------------------
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


@contextmanager
def abort_on_error(comm: Communicator | None) -> Iterator[None]:
    """End the whole MPI job when the block raises, with the error on stderr.

    Under MPI an exception on one rank would leave the others waiting forever in their
    next collective. Inside this block an exception is written to stderr with its rank
    and traceback and ``MPI_Abort`` ends every process (``python -m mpi4py script.py``
    does the same for a whole script). Without a communicator, or with one process, the
    exception propagates as usual.

    Examples
    --------
    >>> with abort_on_error(None):
    ...     pass
    """
    try:
        yield
    except Exception as exc:
        size = 1 if comm is None else int(comm.size)
        abort = getattr(comm, "abort", None)
        if size == 1 or abort is None:
            raise
        rank = int(comm.rank)  # type: ignore[union-attr]
        message = "".join(traceback.format_exception(exc))
        sys.stderr.write(
            f"deltaprop.parallel.mpi: rank {rank} of {size} failed; aborting the MPI job.\n{message}"
        )
        sys.stderr.flush()
        abort(1)
        raise  # not reached: MPI_Abort ends the process
