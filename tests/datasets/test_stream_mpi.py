"""Under ``mpiexec -n 2``, a streamed fit reads on each rank only the rows it owns and gives
one process's weights to rounding (deltaprop/train/streaming.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "parallel"))
from mpirun import run_mpi
from test_sources import write_parquet

from deltaprop.data import NpyDataset

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from mpi_stream_fit import table, train  # noqa: E402

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("source", ["npy", "parquet"])
def test_two_ranks_read_their_shares_and_give_one_process_weights(
    tmp_path: Path, source: str
) -> None:
    X, y = table()
    arg = "npy"
    if source == "parquet":
        write_parquet(tmp_path / "pq", X, y, files=3, group=40)
        arg = str(tmp_path / "pq")
    out = tmp_path / "out.json"
    proc = run_mpi(2, str(HERE / "mpi_stream_fit.py"), str(out), arg, run_with_mpi4py=False)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    assert got["identical"]
    # 30 blocks of 50 rows: rank 0 owns rows [0, 750), rank 1 [750, 1500)
    assert got["read"] == [[0, 750], [750, 1500]]
    one = train(NpyDataset(X, y, block_rows=50, buffer_blocks=4), None)
    np.testing.assert_allclose(got["params"], one.parameters, rtol=1e-9, atol=1e-12)
