"""Replicated data-parallel training under MPI, for ``tests/test_distributed.py``.

Run as ``mpiexec -n 2 python -m mpi4py train_replicated.py CONFIGS.json OUTDIR``: every rank
trains each configuration with the communicator of ``get_communicator("auto")``, rank 0
gathers every rank's final weights and history and writes ``OUTDIR/results.json``. A
callback writes ``OUTDIR/written_by_rank<r>.txt`` through ``is_root``, so only rank 0's
file may exist. The same :func:`train` without a communicator gives the single-process
reference (the test imports this file and calls it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop import Callback, Network, Trainer
from deltaprop.train import Communicator


def make_data(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The configuration's data, the same on every rank (drawn from ``data_seed``)."""
    rng = np.random.default_rng(config.get("data_seed", 0))
    n, n_in, n_out = config["n"], config["sizes"][0], config["sizes"][-1]
    X = rng.normal(size=(n, n_in))
    if config["loss"] == "categorical_crossentropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif config["loss"] == "binary_crossentropy":
        Y = (rng.random((n, n_out)) < 0.3).astype(float)  # unbalanced, for class_weight
    else:
        Y = X[:, :n_out] ** 2 + rng.normal(scale=0.1, size=(n, n_out))
    w = rng.uniform(0.0, 2.0, n) if config.get("sample_weight") else None
    return X, Y, w


class RootWrites(Callback):
    """Writes one file per epoch end, through :func:`deltaprop.parallel.is_root`."""

    def __init__(self, outdir: Path, comm: Communicator | None) -> None:
        self.outdir, self.comm = outdir, comm

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        from deltaprop.parallel import get_rank, is_root

        if is_root(self.comm):
            path = self.outdir / f"written_by_rank{get_rank(self.comm)}.txt"
            with path.open("a") as f:
                f.write(f"{epoch} {logs['loss']!r}\n")


def train(
    config: dict[str, Any], comm: Communicator | None, callbacks: list[Callback] | None = None
) -> tuple[Network, Trainer]:
    """Train the configuration's network; ``comm=None`` for the single-process reference."""
    X, Y, w = make_data(config)
    net = Network(config["sizes"], config["activation"], config["loss"], seed=1)
    trainer = Trainer(
        net,
        config["optimizer"],
        learning_rate=config.get("learning_rate", 0.01),
        batch_size=config["batch_size"],
        epochs=config["epochs"],
        alpha=config.get("alpha", 0.0),
        clip_norm=config.get("clip_norm"),
        class_weight=config.get("class_weight"),
        validation_fraction=config.get("validation_fraction"),
        early_stopping=config.get("early_stopping", False),
        n_iter_no_change=config.get("n_iter_no_change", 10),
        tol=config.get("tol", 1e-4),
        schedule=config.get("schedule", "constant"),
        seed=7,
        callbacks=callbacks or [],
        communicator=comm,
    )
    trainer.fit(X, Y, sample_weight=w)
    return net, trainer


def check_helpers(comm: Any) -> dict[str, Any]:
    """Exercise the helpers of deltaprop.parallel; every rank returns its observations."""
    from deltaprop.parallel import (
        broadcast_parameters,
        check_replicated,
        check_synchronized,
        gather_rows,
        shard_rows,
        shared_seed,
    )

    out: dict[str, Any] = {}
    data = np.arange(7 * 3, dtype=np.float64).reshape(7, 3)
    labels = np.array(list("abcdefg"), dtype=object)
    sl = shard_rows(7, comm)
    out["shard"] = [sl.start, sl.stop]
    out["gather_rows"] = bool(np.array_equal(gather_rows(data[sl], comm), data))
    out["gather_rows_object"] = gather_rows(labels[sl], comm).tolist() == labels.tolist()
    out["shared_seed"] = shared_seed(None, comm)
    check_replicated(comm, X=data, seed=3)
    try:
        check_replicated(comm, X=data + comm.rank, seed=3)
        out["check_replicated"] = "no error"
    except ValueError as exc:
        out["check_replicated"] = str(exc)
    net = Network([3, 4, 2], "tanh", "mse", seed=comm.rank)  # different weights per rank
    try:
        check_synchronized(net, comm)
        out["check_synchronized_before"] = "no error"
    except RuntimeError as exc:
        out["check_synchronized_before"] = str(exc)
    broadcast_parameters(net, comm)
    check_synchronized(net, comm)
    out["broadcast_parameters"] = net.parameters.tolist()
    return out


def main(configs_path: str, outdir: str) -> None:
    from deltaprop.parallel import get_communicator

    comm = get_communicator("auto")
    if comm is None:
        raise RuntimeError("expected an MPI communicator: run this script under mpiexec -n 2")
    mpi = comm.comm
    configs = json.loads(Path(configs_path).read_text())
    results: dict[str, Any] = {"size": comm.size, "configs": {}}
    first = next(iter(configs))  # its training also writes files, through is_root
    for name, config in configs.items():
        callbacks: list[Callback] = [RootWrites(Path(outdir), comm)] if name == first else []
        net, trainer = train(config, comm, callbacks)
        mine = {
            "parameters": net.parameters.tolist(),
            "bytes": net.parameters.tobytes().hex(),
            "history": trainer.history.as_dict(),
            "epoch": trainer.epoch,
            "best_epoch": trainer.best_epoch,
        }
        results["configs"][name] = mpi.gather(mine, root=0)
    results["helpers"] = mpi.gather(check_helpers(comm), root=0)
    if comm.rank == 0:
        Path(outdir, "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
