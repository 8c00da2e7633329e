"""Data-parallel training over MPI (mpi4py is imported lazily, only when a job uses it)."""

from deltaprop.parallel.communicator import ENV_SWITCH, Communicator, MPICommunicator, even_share
from deltaprop.parallel.launcher import (
    get_communicator,
    get_rank,
    is_root,
    launcher_rank,
    launcher_size,
    shard_rows,
)
from deltaprop.parallel.replicas import (
    abort_on_error,
    broadcast_parameters,
    check_replicated,
    check_synchronized,
    gather_rows,
    shared_seed,
)

__all__ = [
    "ENV_SWITCH",
    "Communicator",
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
