"""How a streamed fit reads its buffers (deltaprop/train/streaming.py): ahead in a thread
where a core is spare beside the training loop's threads, else in turn with the source
decoding on every core; either way the same bits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.core import fused
from deltaprop.data import ParquetDataset
from deltaprop.train import streaming

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


class Loop:
    def __init__(self, n_threads: int) -> None:
        self.n_threads = n_threads

    def step_threads(self, m: int) -> int:  # a step of m rows: as many threads as blocks
        return min(self.n_threads, max(1, m // 16))


@pytest.mark.parametrize(
    ("cores", "threads", "rows", "spare"),
    [(2, 2, 200, False), (4, 2, 200, True), (1, None, 200, False), (2, None, 200, True),
     (2, 2, 16, True)],  # a step of 16 rows runs on one thread: the second core is spare
)  # fmt: skip
def test_a_core_is_spare_beside_the_loop_threads(
    monkeypatch: pytest.MonkeyPatch, cores: int, threads: int | None, rows: int, spare: bool
) -> None:
    monkeypatch.setattr(streaming, "usable_cores", lambda: cores)
    loop = None if threads is None else Loop(threads)
    assert streaming.spare_core(loop, rows) is spare  # type: ignore[arg-type]


def test_reading_ahead_or_in_turn_gives_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fused.get(10**6) is None:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1200, 5))
    y = (X[:, 0] > X[:, 1]).astype(float)
    cols = {f"x{j}": X[:, j] for j in range(5)} | {"target": y}
    pq.write_table(pa.table(cols), tmp_path / "t.parquet", row_group_size=64)
    weights = []
    for spare in (True, False):
        monkeypatch.setattr(streaming, "spare_core", lambda fast, bs, spare=spare: spare)
        data = ParquetDataset(tmp_path / "t.parquet", "target", block_rows=64, buffer_blocks=3)
        net = Network([5, 1024, 1], "tanh", "binary_crossentropy", seed=0)
        Trainer(net, "adam", batch_size=50, epochs=2, seed=0).fit(data)
        weights.append(net.parameters.copy())
    np.testing.assert_array_equal(weights[0], weights[1])


def test_the_next_epochs_first_buffer_is_read_ahead_once_and_used() -> None:
    reads: list[int] = []
    wide: list[bool] = []

    def read(buf: np.ndarray, threads: bool = False) -> int:
        reads.append(int(buf[0]))
        wide.append(threads)
        return int(buf.sum())

    def settled(reader: streaming._Reader) -> list[int]:
        if reader._next is not None:
            reader._next[1].result()  # the read ahead has run
        return sorted(reads)

    epochs = [[np.arange(0, 3), np.arange(3, 6)], [np.arange(6, 9), np.arange(9, 12)]]
    with streaming._Reader(ahead=True) as reader:
        got = list(reader.epoch(read, epochs[0], following=epochs[1][0]))
        assert settled(reader) == [0, 3, 6]  # the next epoch's first buffer already read
        got += list(reader.epoch(read, epochs[1], following=np.array([99])))
        assert settled(reader) == [0, 3, 6, 9, 99]
        got += list(reader.epoch(read, [np.array([5, 5])]))  # not the buffer peeked at
    assert sorted(reads) == [0, 3, 5, 6, 9, 99]
    assert sum(wide) == 2  # the first buffers not read ahead (0 and 5) on every core
    assert [rows for _, rows in got] == [3, 12, 21, 30, 10]


def test_in_turn_nothing_is_read_ahead() -> None:
    reads: list[int] = []

    def read(buf: np.ndarray, threads: bool = False) -> int:
        reads.append(int(buf[0]))
        return 0

    with streaming._Reader(ahead=False) as reader:
        buffers = [np.arange(2), np.arange(2, 4)]
        for buf, _ in reader.epoch(read, buffers, following=np.array([7])):
            assert reads[-1] == int(buf[0])  # read when taken, not before
    assert reads == [0, 2]


def _table(tmp_path: Path, n: int) -> Path:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 3))
    cols = {f"x{j}": X[:, j] for j in range(3)} | {"target": (X[:, 0] > 0).astype(float)}
    pq.write_table(pa.table(cols), tmp_path / "t.parquet", row_group_size=16)
    return tmp_path / "t.parquet"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_a_streamed_fit_takes_and_records_a_callback_s_rate(tmp_path: Path, compiled: bool) -> None:
    from deltaprop.train import Callback

    class Rates(Callback):
        def on_epoch_begin(self, trainer: object, epoch: int, logs: object = None) -> None:
            trainer.optimizer.learning_rate = [0.0, 0.05][epoch]  # type: ignore[attr-defined]

    if compiled and fused.get(10**6) is None:
        pytest.skip("numba is not installed")
    previous = fused.set_enabled(compiled)
    try:
        net = Network([3, 4, 1], "tanh", "binary_crossentropy", seed=0)
        p0 = net.parameters.copy()
        trainer = Trainer(net, "sgd", learning_rate=0.1, batch_size=10, epochs=1, seed=0,
                          callbacks=[Rates()])  # fmt: skip
        trainer.fit(ParquetDataset(_table(tmp_path, 40), "target", block_rows=16))
        assert np.array_equal(net.parameters, p0)  # the epoch's rate 0: nothing moved
        trainer.fit(ParquetDataset(_table(tmp_path, 40), "target", block_rows=16))
    finally:
        fused.set_enabled(previous)
    assert not np.array_equal(net.parameters, p0)
    assert trainer.history.learning_rate == [0.0, 0.05]


def test_a_streamed_fit_with_batch_norm_refuses_a_batch_of_one_row(tmp_path: Path) -> None:
    net = Network([3, 4, 1], "tanh", "binary_crossentropy", seed=0, batch_norm=True)
    with pytest.raises(ValueError, match=r"batch_size=8 over 41 training rows leaves a last "
                       r"batch of 1 row"):  # fmt: skip
        Trainer(net, batch_size=8, epochs=1, seed=0).fit(
            ParquetDataset(_table(tmp_path, 41), "target", block_rows=16)
        )
