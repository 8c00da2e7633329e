"""Streamed training from a local Parquet directory against in-memory training on the same
rows (issue #16): ``python bench/stream_parquet.py [ROWS] [FEATURES] [REPEATS] [HIDDEN]``
(HIDDEN: the hidden widths, ``64`` by default, ``256,128`` for two layers).

Both fits use the same network, batch size, epochs and seed; the streamed one reads the rows
buffer by buffer from a Parquet directory (``deltaprop.data.ParquetDataset``: 4 files
written with pyarrow's defaults, snappy and dictionary pages, row groups of 1024 rows;
default blocks and buffers), and again with ``spill_dir`` (each row group decoded once, in
the first epoch, into a decoded copy on the local disk that later epochs read
memory-mapped). The three alternate, REPEATS times each (7 by default), after a warm-up of
each that is not counted. Printed: the machine's load average before and after
(the machine may be shared: a load above its cores means the times are inflated), each
fit's median wall-clock and CPU seconds (all threads: the compiled loop's, the read-ahead
thread's, Arrow's), and the ratios of the medians, streamed / in memory; the issue's target
is a wall-clock ratio within 1.3.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from deltaprop import Network, Trainer
from deltaprop.data import ParquetDataset


def write_parquet(folder: Path, X: np.ndarray, y: np.ndarray, files: int = 4) -> None:
    """``X`` and ``y`` (column ``target``) as ``files`` Parquet files, row groups of 1024."""
    folder.mkdir()
    per = -(-len(X) // files)
    for k, a in enumerate(range(0, len(X), per)):
        cols = {f"x{j}": X[a : a + per, j] for j in range(X.shape[1])}
        cols["target"] = y[a : a + per]
        pq.write_table(pa.table(cols), folder / f"p{k:03d}.parquet", row_group_size=1024)


def main(rows: int = 200_000, features: int = 32, repeats: int = 7, hidden: str = "64") -> None:
    widths = [int(h) for h in hidden.split(",") if h]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float64)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        write_parquet(Path(tmp) / "pq", X, y)
        data = ParquetDataset(Path(tmp) / "pq", "target")
        spilled = ParquetDataset(Path(tmp) / "pq", "target", spill_dir=tmp)

        def fit(*args: object) -> tuple[float, float]:
            net = Network([features, *widths, 1], "relu", "binary_crossentropy", seed=0)
            trainer = Trainer(net, "adam", batch_size=200, epochs=3, seed=0)
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.fit(*args)
            return time.perf_counter() - t0, time.process_time() - c0

        fit(X, y), fit(data), fit(spilled)  # compile, warm the caches
        memory, streamed, spill = [], [], []
        for _ in range(repeats):
            memory.append(fit(X, y))
            streamed.append(fit(data))
            spill.append(fit(ParquetDataset(Path(tmp) / "pq", "target", spill_dir=tmp)))
    load_after = os.getloadavg()[0]
    mw, ms, sw = (statistics.median(t[0] for t in v) for v in (memory, streamed, spill))
    cw, cs, sc = (statistics.median(t[1] for t in v) for v in (memory, streamed, spill))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"rows={rows} features={features} network {[features, *widths, 1]}, {repeats} interleaved runs of each, {cores} cores, "
          f"load average {load_before:.1f} before, {load_after:.1f} after")  # fmt: skip
    print(f"in memory: wall {mw:.3f} s, cpu {cw:.3f} s  {[round(t[0], 2) for t in memory]}")
    print(f"streamed:  wall {ms:.3f} s, cpu {cs:.3f} s  {[round(t[0], 2) for t in streamed]}")
    print(f"spilled:   wall {sw:.3f} s, cpu {sc:.3f} s  {[round(t[0], 2) for t in spill]}")
    print(f"RATIO streamed / in memory: wall {ms / mw:.2f}x, cpu {cs / cw:.2f}x "
          "(decoding every epoch; target: wall within 1.3x)")  # fmt: skip
    print(f"RATIO spilled / in memory:  wall {sw / mw:.2f}x, cpu {sc / cw:.2f}x "
          "(spill_dir: decoded in the first epoch only, a fresh dataset each fit)")  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]), *sys.argv[4:5])
