"""One rank leaves in the middle of training, for ``tests/parallel/test_mpi_jobs.py``.

``mpiexec -n 2 python -m mpi4py fail_rank.py`` (mpi4py aborts the job on the error), or
``mpiexec -n 2 python fail_rank.py --guard[=WAY]`` (the training runs inside
:func:`deltaprop.parallel.abort_on_error`, as the estimators and the command do). At the
end of epoch 2, rank 1 leaves while rank 0 goes on into epoch 3's ``Allreduce``; the job
must end, naming the rank, instead of hanging. WAY is how rank 1 leaves:

* ``exception`` (the default): ``raise ValueError(MESSAGE)``;
* ``exit``: ``sys.exit(0)`` in the callback (even a zero code leaves rank 0 waiting);
* ``interrupt``: ``raise KeyboardInterrupt``;
* ``signal``: nobody raises. Rank ``--target`` (0 or 1) writes its process id to the file
  ``--pidfile`` and training goes on, rank 1 sleeping 20 ms per epoch (so rank 0 spends
  its time waiting in ``Allreduce``), until the test sends the process a signal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from deltaprop import Callback, Network, Trainer

MESSAGE = "rank 1 fails on purpose at epoch 2"


class LeaveOnRank1(Callback):
    def __init__(self, rank: int, way: str, target: int, pidfile: str | None) -> None:
        self.rank, self.way, self.target, self.pidfile = rank, way, target, pidfile

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.way == "signal":
            if epoch == 2 and self.rank == self.target and self.pidfile is not None:
                tmp = Path(self.pidfile + f".{self.rank}.tmp")
                tmp.write_text(str(os.getpid()))
                tmp.replace(self.pidfile)  # the test never reads a half-written file
            if self.rank == 1:
                time.sleep(0.02)
            return
        if self.rank == 1 and epoch == 2:
            if self.way == "exit":
                sys.exit(0)
            if self.way == "interrupt":
                raise KeyboardInterrupt
            raise ValueError(MESSAGE)


def main(argv: list[str]) -> None:
    from deltaprop.parallel import abort_on_error, get_communicator

    parser = argparse.ArgumentParser()
    parser.add_argument("--guard", nargs="?", const="exception", default=None)
    parser.add_argument("--target", type=int, default=1)
    parser.add_argument("--pidfile", default=None)
    args = parser.parse_args(argv)
    comm = get_communicator(True)
    assert comm is not None
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)), rng.integers(0, 2, 64)
    net = Network([4, 8, 1], "tanh", "binary_crossentropy", seed=0)
    leave = LeaveOnRank1(comm.rank, args.guard or "exception", args.target, args.pidfile)
    trainer = Trainer(
        net, "adam", batch_size=16, epochs=10**6, tol=0.0, n_iter_no_change=10**6, seed=0,
        callbacks=[leave], communicator=comm,
    )  # fmt: skip
    if args.guard is not None:
        with abort_on_error(comm):
            trainer.fit(X, y)
    else:
        trainer.fit(X, y)


if __name__ == "__main__":
    main(sys.argv[1:])
