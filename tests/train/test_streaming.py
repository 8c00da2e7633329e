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
    monkeypatch.setattr(streaming.os, "sched_getaffinity", lambda pid: set(range(cores)))
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
