"""Fits on a table four times larger than a memory budget finish under an address-space cap
(``RLIMIT_AS``) from a memory map, a Parquet directory and a CSV file, through the Trainer
and the estimators; the same cap stops a process that loads the table
(tests/datasets/memcap_child.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

pytestmark = pytest.mark.slow

ROWS, FEATURES, BUDGET_MB = 1_000_000, 16, 32  # X: 122 MiB, four times the budget
CHILD = Path(__file__).with_name("memcap_child.py")


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big")
    X = np.lib.format.open_memmap(path / "X.npy", "w+", np.float64, (ROWS, FEATURES))
    y = np.lib.format.open_memmap(path / "y.npy", "w+", np.float64, (ROWS,))
    (path / "pq").mkdir()
    rng = np.random.default_rng(0)
    with (path / "t.csv").open("w") as f:
        f.write(",".join([*(f"x{j}" for j in range(FEATURES)), "target"]) + "\n")
        for k, a in enumerate(range(0, ROWS, 200_000)):
            Xc = rng.normal(size=(200_000, FEATURES)).round(3)
            yc = (Xc[:, 0] > 0).astype(float)
            X[a : a + 200_000], y[a : a + 200_000] = Xc, yc
            cols = {f"x{j}": Xc[:, j] for j in range(FEATURES)} | {"target": yc}
            pq.write_table(pa.table(cols), path / "pq" / f"p{k}.parquet", row_group_size=8192)
            np.savetxt(f, np.column_stack([Xc, yc]), delimiter=",", fmt="%.3f")
    X.flush()
    y.flush()
    assert X.nbytes >= 3.8 * BUDGET_MB * 2**20
    return path


def run_child(source: str, face: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(CHILD), source, face, str(path), str(BUDGET_MB)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "face"),
    [
        ("npy", "trainer"), ("npy", "classifier"), ("memmap", "trainer"),
        ("memmap", "regressor"), ("parquet", "trainer"), ("parquet", "classifier"),
        ("csv", "trainer"), ("csv", "regressor"),
    ],
)  # fmt: skip
def test_fit_finishes_under_a_quarter_of_the_data(tables: Path, source: str, face: str) -> None:
    proc = run_child(source, face, tables)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[:2] == ["ok", str(ROWS)]


def test_the_cap_stops_a_process_that_loads_the_table(tables: Path) -> None:
    proc = run_child("inmemory", "trainer", tables)
    assert proc.returncode != 0 and "Unable to allocate" in proc.stderr
