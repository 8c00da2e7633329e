"""Data-parallel training over MPI (mpi4py is imported lazily, only when a job uses it).

Synchronous data parallelism, the *replicated* way: every rank holds the same data and the
same seed, so every rank draws the same global mini-batch ``B``. Rank ``r`` computes the
gradient of its contiguous share ``B_r`` (:meth:`MPICommunicator.split`) normalised by the
weight of the whole batch, and one ``Allreduce`` over the flat gradient buffer sums them::

    Σ_r [ Σ_{i∈B_r} w_i ∇L_i / Σ_{i∈B} w_i  +  (α / (size · Σ_{i∈B} w_i)) W ]
        = Σ_{i∈B} w_i ∇L_i / Σ_{i∈B} w_i  +  (α / Σ_{i∈B} w_i) W  =  ∇J_B

which is the gradient a single process computes on ``B`` (uneven shares, empty shares and
sample weights included; see :func:`deltaprop.train.distributed.distributed_backward`).
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

The pieces live in :mod:`deltaprop.parallel.communicator` (the communicator),
:mod:`deltaprop.parallel.launcher` (finding the launcher, the communicator to train with,
shards) and :mod:`deltaprop.parallel.replicas` (keeping the ranks together).

Examples
--------
>>> from deltaprop.parallel import get_communicator, is_root, shard_rows
>>> comm = get_communicator("auto")  # None unless launched by mpiexec/srun with size > 1
>>> comm is None and is_root(comm)
True
>>> shard_rows(10, comm)
slice(0, 10, None)
"""

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
