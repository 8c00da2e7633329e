"""Run under ``mpiexec -n N python -m mpi4py``: an MLPClassifier with early stopping fit on
a Dataset whose rows each rank reads from its own share (deltaprop.sklearn.streamed).

Rank 0 writes ``{"identical", "params", "val_loss", "best_epoch", "val_rows", "X_val"}``
to the JSON file given as argv[1] (the validation rows' indices and features as the
trainer held them, spied on ``deltaprop.train.streaming.streamed_validation``).
"""

import json
import sys
import warnings

import numpy as np
from mpi4py import MPI

import deltaprop.train.streaming as streaming
from deltaprop import MLPClassifier
from deltaprop.data import NpyDataset, rank_rows

SEEN: dict = {}
_original = streaming.streamed_validation


def _spy(*args):  # type: ignore[no-untyped-def]
    mask, Xv, Yv = _original(*args)
    SEEN["val_rows"], SEEN["X_val"] = np.flatnonzero(mask).tolist(), Xv.tolist()
    return mask, Xv, Yv


streaming.streamed_validation = _spy


def table() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    X = np.round(rng.normal(size=(1200, 4)), 6)
    return X, (X[:, 0] * X[:, 1] > 0).astype(float)


def fit(data: NpyDataset, distributed: bool) -> MLPClassifier:
    clf = MLPClassifier(
        (12,), max_iter=200, batch_size=64, random_state=0, learning_rate_init=0.05,
        early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
        early_stopping_monitor="val_loss", distributed=distributed,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(data)


def report(clf: MLPClassifier) -> dict:
    h = clf.history_
    return {
        "params": np.asarray(clf.network_.parameters).tolist(),
        "val_loss": list(h.val_loss),
        "best_epoch": h.stop.best_epoch,
        **SEEN,
    }


if __name__ == "__main__":
    comm = MPI.COMM_WORLD
    X, y = table()
    own = rank_rows(len(X), comm.rank, comm.size, 50)
    data = NpyDataset(X[own].copy(), y[own].copy(), offset=own.start, n_rows=len(X),
                      block_rows=50, buffer_blocks=4)  # fmt: skip
    clf = fit(data, True)
    blobs = comm.allgather(clf.network_.parameters.tobytes())
    if comm.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump({"identical": len(set(blobs)) == 1, **report(clf)}, f)
