"""Run under ``mpiexec -n 2 python -m mpi4py``: an MLPClassifier with ``distributed=True``.

Rank 0 writes ``{"identical": bool, "params": [...]}`` to the JSON file given as argv[1].
"""

import json
import sys

import numpy as np
from mpi4py import MPI
from sklearn.datasets import load_digits

from deltaprop import MLPClassifier


def fit(**kwargs: object) -> MLPClassifier:
    X, y = load_digits(return_X_y=True)
    return MLPClassifier(
        (16,), max_iter=3, batch_size=75, random_state=0, alpha=1e-3, tol=0.0, **kwargs
    ).fit(X[:300] / 16, y[:300])


if __name__ == "__main__":
    clf = fit(distributed=True)
    blobs = MPI.COMM_WORLD.allgather(clf.network_.parameters.tobytes())
    if MPI.COMM_WORLD.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump({"identical": len(set(blobs)) == 1,
                       "params": np.asarray(clf.network_.parameters).tolist()}, f)  # fmt: skip
