"""Data-parallel training over MPI (mpi4py is imported lazily, only when a job uses it)."""

from deltaprop.parallel.mpi import (
    MPICommunicator,
    abort_on_error,
    broadcast_parameters,
    check_replicated,
    get_communicator,
    get_rank,
    is_root,
    shared_seed,
)

__all__ = [
    "MPICommunicator",
    "abort_on_error",
    "broadcast_parameters",
    "check_replicated",
    "get_communicator",
    "get_rank",
    "is_root",
    "shared_seed",
]
