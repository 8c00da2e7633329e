"""Each rank fits the streamed preprocessing on its share, for ``test_streamed_mpi.py``.

Run as ``mpiexec -n N python -m mpi4py stream_table.py DATA OUTDIR``: every rank calls
``stream_table(DATA, "y", ...)`` on its share (validation 0.2, seed 5), noting the peak of
its private memory (RssAnon, sampled) and of its resident memory (VmHWM, the pages of
its memory-mapped files included) during the call, and the rows and bytes it holds.
Rank 0 writes ``OUTDIR/state.npz`` (medians, means, scales, target scaling) and
``OUTDIR/result.json`` (categories, task, counts, every rank's rows, bytes and memory).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from deltaprop.app.streamed_tables import stream_table
from deltaprop.parallel import get_communicator


def status(field: str = "RssAnon") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def anon() -> int:
    return status("RssAnon")


def main(data: Path, outdir: Path) -> None:
    comm = get_communicator("auto")
    rank = 0 if comm is None else comm.rank
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], anon())
            time.sleep(0.002)

    warm = outdir / f"warm{rank}"  # imports, first allocations: not the data's memory
    warm.mkdir()
    first = sorted(data.iterdir())[0]
    pq.read_table(first).slice(0, 500).to_pandas().to_parquet(warm / "w.parquet")
    stream_table(warm, "y", outdir / f"warmwork{rank}", validation=0.2).cleanup()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS from here
    rss = status("VmRSS")
    base = anon()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    t = stream_table(
        data, "y", outdir / f"work{rank}", validation=0.2, seed=5, scale_target=True, comm=comm
    )
    done.set()
    thread.join()
    hwm = status("VmHWM") - rss  # resident, the pages of the mapped files included
    Xt, _ = t.load("train")
    Xv, _ = t.load("val")
    mine = {"train": len(Xt), "val": len(Xv), "bytes": int(Xt.nbytes + Xv.nbytes),
            "growth": peak[0] - base, "hwm": hwm, "first": Xt[0].tolist() if len(Xt) else None}  # fmt: skip
    ranks = [mine] if comm is None else comm.comm.allgather(mine)
    if rank == 0:
        np.savez(
            outdir / "state.npz", median=t.pre.median, mean=t.pre.mean, scale=t.pre.scale,
            target=np.array([t.scaler.mean, t.scaler.scale]) if t.scaler else np.zeros(2),
        )  # fmt: skip
        result = {"categories": t.pre.categories, "task": t.task, "n_train": t.n_train,
                  "n_val": t.n_val, "ranks": ranks}  # fmt: skip
        (outdir / "result.json").write_text(json.dumps(result))
    t.cleanup()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
