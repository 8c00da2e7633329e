"""Data-parallel training on the compiled loop, for ``tests/parallel/test_mpi_compiled.py``.

Run as ``mpiexec -n 2 python -m mpi4py train_compiled.py OUTDIR``: every rank trains
:data:`CONFIG` with the communicator of ``get_communicator("auto")``; rank 0 gathers every
rank's weights, loss history and ``Trainer.engine`` into ``OUTDIR/results.json``. The same
:func:`train` without a communicator gives the single-process reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop import Network, Trainer

CONFIG: dict[str, Any] = {  # 12·64 + 64 + 64·48 + 48 + 48·3 + 3 = 4099 parameters: compiled
    "n": 203, "sizes": [12, 64, 48, 3], "batch_size": 25, "epochs": 3,
}  # fmt: skip
"""203 rows in batches of 25 (13/12 rows a rank), the last of 3 rows (2/1)."""


def train(comm: Any) -> Trainer:
    """Train :data:`CONFIG` (sample weights, L2, clipping, Adam); ``comm=None``: one process."""
    rng = np.random.default_rng(0)
    n, sizes = CONFIG["n"], CONFIG["sizes"]
    X = rng.normal(size=(n, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    w = rng.uniform(0.0, 2.0, n)
    net = Network(sizes, ["tanh", "relu", "softmax"], "ce", seed=1)
    trainer = Trainer(net, "adam", learning_rate=0.01, batch_size=CONFIG["batch_size"],
                      epochs=CONFIG["epochs"], alpha=1e-3, clip_norm=0.5, tol=0.0, seed=7,
                      communicator=comm)  # fmt: skip
    trainer.fit(X, Y, sample_weight=w)
    return trainer


def main(outdir: str) -> None:
    from deltaprop.parallel import get_communicator

    comm = get_communicator("auto")
    if comm is None:
        raise RuntimeError("expected an MPI communicator: run this script under mpiexec -n 2")
    trainer = train(comm)
    mine = {"parameters": trainer.net.parameters.tolist(), "loss": trainer.history.loss,
            "engine": trainer.engine, "size": comm.size}  # fmt: skip
    gathered = comm.comm.gather(mine, root=0)
    if comm.rank == 0:
        (Path(outdir) / "results.json").write_text(json.dumps(gathered))


if __name__ == "__main__":
    main(sys.argv[1])
