"""Run under ``mpiexec -n N python``: a streamed Trainer fit where each rank reads only its
rows (a per-rank NpyDataset, or the shared Parquet directory argv[2]). Rank 0 writes
``{"params": [...], "identical": bool, "read": [[lo, hi], ...]}`` to argv[1]."""

import json
import sys

import numpy as np
from mpi4py import MPI

from deltaprop import Network, Trainer
from deltaprop.data import NpyDataset, ParquetDataset, rank_rows
from deltaprop.parallel import get_communicator


def table() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(1500, 6)), 6)
    return X, np.round((X[:, 0] * X[:, 1] > 0).astype(float), 6)


def train(data, comm) -> Network:  # type: ignore[no-untyped-def]
    net = Network([6, 16, 1], "tanh", "binary_crossentropy", seed=0)
    Trainer(net, "adam", learning_rate=0.01, batch_size=64, epochs=3, seed=0,
            validation_fraction=0.2, communicator=comm).fit(data)  # fmt: skip
    return net


if __name__ == "__main__":
    comm = get_communicator(True)
    X, y = table()
    layout = {"block_rows": 50, "buffer_blocks": 4}
    if sys.argv[2] == "npy":
        own = rank_rows(1500, comm.rank, comm.size, 50)
        data = NpyDataset(X[own].copy(), y[own].copy(), offset=own.start, n_rows=1500, **layout)
    else:
        data = ParquetDataset(sys.argv[2], "target", **layout)
    read: list[tuple[int, int]] = []
    original = data._read

    def spy(a: int, b: int):  # type: ignore[no-untyped-def]
        read.append((a, b))
        return original(a, b)

    original_take = data.take

    def spy_take(rows, **kw):  # type: ignore[no-untyped-def]
        if len(rows):
            read.append((int(min(rows)), int(max(rows)) + 1))
        return original_take(rows, **kw)

    data._read = spy  # type: ignore[method-assign]
    data.take = spy_take  # type: ignore[method-assign]
    net = train(data, comm)
    blobs = MPI.COMM_WORLD.allgather(net.parameters.tobytes())
    spans = MPI.COMM_WORLD.gather([min(a for a, _ in read), max(b for _, b in read)])
    if comm.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump({"identical": len(set(blobs)) == 1, "read": spans,
                       "params": net.parameters.tolist()}, f)  # fmt: skip
