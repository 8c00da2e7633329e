"""Streamed against in-memory training on the same data, from a local Parquet directory.

Usage::

    python bench/stream.py                         # 400,000 rows × 20 columns, 2 epochs
    python bench/stream.py --rows 1000000 --epochs 3

The script writes a synthetic table (20 numeric columns, a binary target) as a directory
of Parquet files, then:

1. streams it (:func:`deltaprop.app.streamed_tables.stream_table`: one pass over the row
   groups, the exact statistics, the C-ordered ``.npy`` of the preprocessed rows);
2. trains ``MLPClassifier`` on those rows held in memory (``np.load`` of the ``.npy``:
   the in-memory training of the same data) and on the same rows memory-mapped as a
   :class:`deltaprop.data.NpyDataset` (the streamed training of ``deltaprop train DIR``),
   with the same seed and settings, alternately ``--rounds`` times.

Printed: the seconds of the streaming preprocessing, the median seconds of each fit, and
the ratio streamed / in-memory (the aim: at most 1.3).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def write_parquet(folder: Path, rows: int, cols: int, files: int = 8) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    per = rows // files
    w = rng.normal(size=cols)
    for i in range(files):
        X = rng.normal(size=(per, cols))
        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(cols)])
        frame["y"] = (X @ w + 0.5 * rng.normal(size=per) > 0).astype(np.int64)
        frame.to_parquet(folder / f"part{i:02d}.parquet", row_group_size=50_000)


def main() -> None:
    from deltaprop.app.streamed_tables import stream_table
    from deltaprop.data import NpyDataset
    from deltaprop.sklearn import MLPClassifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=400_000)
    p.add_argument("--cols", type=int, default=20)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deltaprop-stream-"))
    try:
        write_parquet(tmp / "data", args.rows, args.cols)
        start = time.perf_counter()
        table = stream_table(tmp / "data", "y", tmp / "work")
        prep = time.perf_counter() - start

        def fit(X: object, y: object) -> float:
            est = MLPClassifier(hidden_layer_sizes=(64,), max_iter=args.epochs, batch_size=1024,
                                random_state=0, early_stopping=False)  # fmt: skip
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X, y)
            return time.perf_counter() - start

        X = np.load(table.X_train)
        y = np.load(table.y_train)
        times: dict[str, list[float]] = {"in memory": [], "streamed": []}
        for _ in range(args.rounds):
            times["in memory"].append(fit(X, y))
            times["streamed"].append(fit(NpyDataset(table.X_train, table.y_train), None))
        medians = {k: statistics.median(v) for k, v in times.items()}
        print(f"{args.rows:,} rows × {args.cols} columns, {args.epochs} epochs")
        print(f"streaming preprocessing: {prep:.2f} s")
        for k, v in medians.items():
            print(f"fit {k:>9}: {v:.2f} s")
        print(f"ratio streamed / in memory: {medians['streamed'] / medians['in memory']:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
