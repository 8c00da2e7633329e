"""Ctrl-C to an MPI run of ``deltaprop train``: the ranks stop together
(:class:`deltaprop.app.interrupt.StopTogether`), rank 0 writes the files and prints the
resume line, the streamed work folder is removed, exit 130."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deltaprop import Network, Trainer
from deltaprop.app.interrupt import StopTogether
from deltaprop.app.streamed_runs import WORK_DIR
from deltaprop.train import Callback
from tests.app.clitools import command, interrupt_at_the_first_checkpoint, load_quietly


class OtherRankInterrupted:
    """A stand-in communicator of two ranks whose other rank was interrupted after
    ``epochs`` epochs: its mark joins the sum from then on. (It trains on every row and
    sums nothing else: only the stop is under test.)"""

    size, rank = 2, 0

    def __init__(self, epochs: int) -> None:
        self.epochs, self.calls = epochs, 0

    def split(self, n: int) -> slice:
        return slice(0, n)

    def allreduce(self, buffer: np.ndarray) -> None:
        if buffer.shape == (1,):  # StopTogether's marks
            self.calls += 1
            buffer += 1.0 if self.calls >= self.epochs else 0.0


def test_stop_together_stops_every_rank_at_the_epoch_of_one_ranks_mark() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    comm: Any = OtherRankInterrupted(epochs=3)
    trainer = Trainer(net, epochs=50, seed=0, callbacks=[StopTogether()], tol=0.0)
    trainer.communicator = comm
    history = trainer.fit(X, y)
    assert (history.stop_reason, len(history.loss), comm.calls) == ("interrupted", 3, 3)


def test_under_mpi_a_sigint_marks_the_rank_instead_of_aborting() -> None:
    trainer: Any = Trainer(Network([2, 3, 1], "tanh", "bce", seed=0))
    trainer.communicator = OtherRankInterrupted(epochs=100)
    stop = StopTogether()
    before = signal.getsignal(signal.SIGINT)
    stop.on_train_begin(trainer)
    try:
        os.kill(os.getpid(), signal.SIGINT)  # handled between two bytecodes: no exception
        time.sleep(0.01)
        assert stop._signalled
        with pytest.raises(KeyboardInterrupt):
            stop.on_epoch_end(trainer, 0)  # every rank's mark summed: this one's is 1
    finally:
        stop.restore_handler()
    assert signal.getsignal(signal.SIGINT) is before


class CtrlCAt(Callback):
    def on_epoch_end(self, trainer: Any, epoch: int, logs: Any = None) -> None:
        if epoch == 2:
            raise KeyboardInterrupt


def test_in_one_process_it_is_stop_on_interrupt() -> None:
    net = Network([2, 3, 1], "tanh", "bce", seed=0)
    trainer = Trainer(net, epochs=10, seed=0, callbacks=[CtrlCAt(), StopTogether()])
    history = trainer.fit(np.eye(2), [0.0, 1.0])
    assert (history.stop_reason, len(history.loss)) == ("interrupted", 3)


@pytest.mark.mpi
@pytest.mark.slow
def test_sigint_to_an_mpi_streamed_run(tmp_path: Path) -> None:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        mpiexec = Path(shutil.which("mpiexec") or "mpiexec")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    frame["label"] = (X[:, 0] + X[:, 1] > 0).astype(int)
    (tmp_path / "pq").mkdir()
    for k in range(2):
        frame.iloc[k * 1500 : (k + 1) * 1500].to_parquet(tmp_path / "pq" / f"part-{k}.parquet")
    out = tmp_path / "mout"
    args = ["train", "pq", "--target", "label", "--out", "mout", "--epochs", "100000",
            "--no-early-stopping", "--checkpoint-every", "1", "--quiet", "--hidden", "8"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [str(mpiexec), "-n", "2", *command(*args)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    stdout, stderr = interrupt_at_the_first_checkpoint(proc, out)
    assert proc.returncode == 130, stderr
    assert "aborting the MPI job" not in stderr, stderr
    assert stderr.count("deltaprop: interrupted") == 1, stderr
    resume = [line for line in stdout.splitlines() if line.startswith("resume with: ")]
    assert resume == [
        "resume with: deltaprop train pq --target label --out mout --epochs 100000 "
        "--no-early-stopping --checkpoint-every 1 --quiet --hidden 8 "
        "--resume mout/checkpoint.safetensors --force"
    ], stdout
    assert not (out / WORK_DIR).exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.safetensors", "history.csv", "model.safetensors", "report",
    ]  # fmt: skip
    assert len(load_quietly(out / "model.safetensors").loss_curve_) >= 1
