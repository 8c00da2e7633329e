"""Compile the training loop of one dtype into numba's on-disk cache before the suite runs.

``make pytest`` runs this once per dtype, the two at the same time, before pytest starts
its two workers: otherwise each worker (and each subprocess that a test starts meanwhile)
compiles the same loop while the cache is still empty (about 30 s a dtype on two cores,
and 20 s more for each loop compiled apart: a network with batch norm, one with GELU).
The bits do not depend on it: a loop loaded from the cache is the one compiled.

Usage: ``python tests/compile_kernels.py float32`` (or ``float64``); the float32 job also
compiles the float64 MPI path's steps (:func:`mpi_steps`).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np


def main(dtype: str) -> None:
    from deltaprop.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    warnings.simplefilter("ignore")  # two epochs: ConvergenceWarning, on purpose
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0).fit(X, y)
    MLPClassifier(
        hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0, batch_norm=True
    ).fit(X, y)  # its own compilation (fast.epoch.run_steps)
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0).fit(X, X[:, 0])
    # GELU's kernels: a loop of their own (fast.activate); in float64 with batch norm too
    # (tests/fast/test_engine_matrix.py samples that one twice: both workers would compile it)
    for batch_norm in (False, True) if dtype == "float64" else (False,):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0,
                      activation="gelu", batch_norm=batch_norm).fit(X, y)  # fmt: skip


class _OneRank:
    """A communicator of one process that says two: the MPI path's two compiled steps
    (``fast.shares``) without MPI."""

    rank, size = 0, 2

    def split(self, n: int) -> slice:
        return slice(0, n)

    def allreduce(self, buffer: np.ndarray) -> None:
        pass


def mpi_steps(dtype: str) -> None:
    """Compile the MPI path's steps (a share of the gradient, the update) for ``dtype``,
    without and with batch norm (the suite's MPI runs are float64: about 20 s cold each, and
    each rank of a job started while the cache is empty compiled them)."""
    import deltaprop

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(dtype)
    for batch_norm in (False, True):
        net = deltaprop.Network([3, 4, 1], "tanh", "bce", seed=0, dtype=dtype,
                                batch_norm=[batch_norm])  # fmt: skip
        trainer = deltaprop.Trainer(net, epochs=2, seed=0, tol=0.0, communicator=_OneRank())
        trainer.fit(X, (X[:, :1] > 0).astype(dtype))


if __name__ == "__main__":
    main(sys.argv[1])
    if sys.argv[1] == "float32":  # the shorter job; the float64 kernels are cached by then
        mpi_steps("float64")
