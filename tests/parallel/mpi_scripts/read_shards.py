"""Each rank parses its share of a CSV file, for ``tests/test_distributed.py``.

Run as ``mpiexec -n 2 python -m mpi4py read_shards.py GOOD.csv BAD.csv OUTDIR``: every rank
reads ``GOOD.csv`` with ``read_table(..., comm=...)``, noting from the ``deltaprop.app.csv_shards``
debug record which lines it parsed itself, then reads ``BAD.csv`` (a malformed line) and
notes the error it raised. Rank 0 writes ``OUTDIR/shares.json`` (every rank's record and
error, and whether the frames agree) and ``OUTDIR/frame.pkl`` (its frame).
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from deltaprop.app.errors import DataError
from deltaprop.app.tables import read_table
from deltaprop.parallel import get_communicator


class Shares(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "csv_share"):
            self.records.append(record.csv_share)


def main(good: str, bad: str, outdir: Path) -> None:
    comm = get_communicator(True)
    assert comm is not None
    handler = Shares()
    logger = logging.getLogger("deltaprop.app.csv_shards")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    frame = read_table(good, comm=comm)
    try:
        read_table(bad, comm=comm)
        error = None
    except DataError as exc:
        error = str(exc)
    everyone = comm.comm.allgather((handler.records, error, pickle.dumps(frame)))
    if comm.rank == 0:
        frames = [pickle.loads(blob) for _, _, blob in everyone]
        same = True
        for other in frames[1:]:
            try:
                pd.testing.assert_frame_equal(other, frame, check_exact=True)
            except AssertionError:
                same = False
        result = {"shares": [r for r, _, _ in everyone], "errors": [e for _, e, _ in everyone]}
        (outdir / "shares.json").write_text(json.dumps({**result, "same_frames": same}))
        (outdir / "frame.pkl").write_bytes(pickle.dumps(frame))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
