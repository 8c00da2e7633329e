"""Finding the launcher: the rank and size that ``mpiexec``, ``mpirun`` or ``srun`` gave this
process, read from the environment without importing mpi4py, the communicator to train
with, and the rows of a data set each rank reads.
"""

from __future__ import annotations

import os

from deltaprop.parallel.communicator import ENV_SWITCH, Communicator, MPICommunicator, even_share

__all__ = [
    "get_communicator",
    "get_rank",
    "is_root",
    "launcher_rank",
    "launcher_size",
    "shard_rows",
]

# Set by the process managers for each process they start. Slurm's own variables
# (SLURM_NTASKS, SLURM_PROCID) are deliberately absent: they are also set in the batch
# script of an ``sbatch --ntasks=4`` job, which is a single process. ``srun --mpi=pmi2``
# and ``srun --mpi=pmix`` set the PMI/PMIx variables below.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


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
