"""The communicator: what the :class:`~deltaprop.train.trainer.Trainer` needs for data
parallelism (:class:`Communicator`), the even split of a batch over the ranks, and its MPI
implementation (:class:`MPICommunicator`, mpi4py imported only when one is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from mpi4py import MPI

__all__ = ["ENV_SWITCH", "Communicator", "MPICommunicator", "even_share"]

ENV_SWITCH = "DELTAPROP_DISTRIBUTED"
"""Environment variable read by ``get_communicator("auto")``: ``1`` forces MPI, ``0`` turns
it off, unset or ``auto`` detects the launcher."""


class Communicator(Protocol):
    """What :class:`~deltaprop.train.trainer.Trainer` needs for data parallelism (see
    :mod:`deltaprop.parallel`).

    Attributes
    ----------
    rank, size : int
        This process's index and the number of processes.
    """

    rank: int
    size: int

    def split(self, n: int) -> slice:
        """The contiguous share of a global batch of ``n`` rows that this rank computes."""
        ...

    def allreduce(self, buffer: np.ndarray) -> None:
        """Sum ``buffer`` over all ranks, in place."""
        ...


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
    """The :class:`Communicator` of an mpi4py communicator.

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
