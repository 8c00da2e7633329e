"""Data-parallel training on the compiled loop: each step is the rank's share (compiled),
one allreduce of the flat gradient (Python, through the communicator), and the update
(compiled); ``Trainer.engine`` says ``"compiled"``.

Two ranks in one process (threads and :class:`ThreadComm`, an allreduce over a barrier)
train as the Python loop's two ranks do (float64, 1e-12 relative), dropout and empty
shares included; a real 2-rank MPI job (``mpiexec``) gives the one process's weights
within the MPI tests' 1e-10.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mpirun import load_script, run_mpi
from test_mpi_jobs import assert_close

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.fast import blas_threads
from deltaprop.parallel.communicator import even_share
from deltaprop.train import trainer as training

pytest.importorskip("numba")


class ThreadComm:
    """Rank ``rank`` of ``size`` threads of one process: ``allreduce`` sums the ranks'
    buffers in rank order (every rank gets the same bits), meeting at a barrier."""

    def __init__(self, rank: int, size: int, shared: dict[str, Any]) -> None:
        self.rank, self.size, self.shared = rank, size, shared
        self.calls = 0

    def split(self, n: int) -> slice:
        return even_share(n, self.rank, self.size)

    def allreduce(self, buffer: np.ndarray) -> None:
        slots, barrier = self.shared["slots"], self.shared["barrier"]
        slots[self.rank] = buffer.copy()
        barrier.wait()
        total = slots[0].copy()
        for other in slots[1:]:
            total += other
        barrier.wait()  # every rank has read the slots before the next allreduce fills them
        buffer[...] = total
        self.calls += 1


def _trainer(sizes: list[int], n: int, bs: int, dropout: float, batch_norm: bool,
             comm: Any) -> deltaprop.Trainer:  # fmt: skip
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    w = rng.uniform(0.0, 2.0, n)
    net = deltaprop.Network(sizes, ["tanh", "relu", "softmax"], "ce", dropout=dropout,
                            batch_norm=batch_norm, seed=1)  # fmt: skip
    tr = deltaprop.Trainer(net, "momentum" if batch_norm else "adam", learning_rate=0.01, batch_size=bs, epochs=2,
                           alpha=1e-3, clip_norm=0.5, tol=0.0, seed=7,
                           communicator=comm)  # fmt: skip
    tr.fit(X, Y, sample_weight=w)
    return tr


def _two_ranks(*args: Any) -> list[deltaprop.Trainer]:
    shared = {"slots": [None, None], "barrier": threading.Barrier(2, timeout=60)}
    comms = [ThreadComm(r, 2, shared) for r in range(2)]
    out: list[Any] = [None, None]

    def run(r: int) -> None:
        try:
            out[r] = _trainer(*args, comms[r])
        except BaseException as exc:  # the test reports it
            shared["barrier"].abort()
            out[r] = exc

    threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
    with blas_threads(1):  # the fits' own (nested) limits restore to this, not to each other's
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    for r in out:
        if isinstance(r, BaseException):
            raise r
    assert all(c.calls > 0 for c in comms)
    return out


@pytest.mark.parametrize(
    ("n", "bs", "dropout", "batch_norm"),
    [(203, 25, 0.0, False), (41, 8, 0.2, False), (44, 10, 0.0, True)],
    ids=["odd shares", "dropout, an empty share (the last batch of 1 row)",
         "batch norm (each rank's statistics), momentum"],
)  # fmt: skip
def test_two_ranks_compiled_train_as_the_python_loop(
    n: int, bs: int, dropout: float, batch_norm: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    sizes = [6, 20, 12, 3]
    compiled = _two_ranks(sizes, n, bs, dropout, batch_norm)
    assert [tr.engine for tr in compiled] == ["compiled", "compiled"]
    np.testing.assert_array_equal(compiled[0].net.parameters, compiled[1].net.parameters)
    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(lambda *a, **k: None))
    python = _two_ranks(sizes, n, bs, dropout, batch_norm)
    assert [tr.engine for tr in python] == ["python", "python"]
    for c, p in zip(compiled, python, strict=True):
        np.testing.assert_allclose(c.net.parameters, p.net.parameters, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c.history.loss, p.history.loss, rtol=1e-12)
        np.testing.assert_allclose(c.history.grad_norms, p.history.grad_norms, rtol=1e-12)
        assert c.optimizer.t == p.optimizer.t == 2 * -(-n // bs)
        for (name, a), (_, b) in zip(c.net.buffers(), p.net.buffers(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=name)
    if not (dropout or batch_norm):  # (their masks and statistics follow each rank's rows)
        one = _trainer(sizes, n, bs, dropout, batch_norm, None)
        np.testing.assert_allclose(compiled[0].net.parameters, one.net.parameters, rtol=1e-10)


@pytest.mark.mpi
@pytest.mark.slow
def test_two_mpi_ranks_compiled_equal_one_process(tmp_path: Path) -> None:
    script = Path(__file__).parent / "mpi_scripts" / "train_compiled.py"
    proc = run_mpi(2, str(script), str(tmp_path))
    assert proc.returncode == 0, f"the MPI job failed:\n{proc.stdout}\n{proc.stderr}"
    ranks = json.loads((tmp_path / "results.json").read_text())
    assert [r["size"] for r in ranks] == [2, 2]
    assert [r["engine"] for r in ranks] == ["compiled", "compiled"]
    one = load_script("train_compiled").train(None)
    assert one.engine == "compiled"
    assert ranks[0]["parameters"] == ranks[1]["parameters"]
    for rank in ranks:
        assert_close(rank["parameters"], one.net.parameters)
        assert_close(rank["loss"], one.history.loss)
