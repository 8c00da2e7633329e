"""One rank raises in the middle of training, for ``tests/test_distributed.py``.

``mpiexec -n 2 python -m mpi4py fail_rank.py`` (mpi4py aborts the job on the error), or
``mpiexec -n 2 python fail_rank.py --guard`` (the training runs inside
:func:`deltaprop.parallel.abort_on_error`, as the estimators do). Rank 1 raises
``ValueError`` at the end of epoch 2 while rank 0 goes on into epoch 3's ``Allreduce``;
the job must end with the error instead of hanging.
"""

from __future__ import annotations

import sys

import numpy as np

from deltaprop import Callback, Network, Trainer

MESSAGE = "rank 1 fails on purpose at epoch 2"


class FailOnRank1(Callback):
    def __init__(self, rank: int) -> None:
        self.rank = rank

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.rank == 1 and epoch == 2:
            raise ValueError(MESSAGE)


def main(guard: bool) -> None:
    from deltaprop.parallel import abort_on_error, get_communicator

    comm = get_communicator(True)
    assert comm is not None
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)), rng.integers(0, 2, 64)
    net = Network([4, 8, 1], "tanh", "binary_crossentropy", seed=0)
    trainer = Trainer(
        net, "adam", batch_size=16, epochs=1000, tol=0.0, n_iter_no_change=1000, seed=0,
        callbacks=[FailOnRank1(comm.rank)], communicator=comm,
    )  # fmt: skip
    if guard:
        with abort_on_error(comm):
            trainer.fit(X, y)
    else:
        trainer.fit(X, y)


if __name__ == "__main__":
    main("--guard" in sys.argv[1:])
