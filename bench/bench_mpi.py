"""Data-parallel scaling over MPI: time per epoch on 1 process and on 2 ranks, same work.

Usage::

    python bench/bench_mpi.py                       # 20,000 × 100, 100-256-256-10, batch 512
    python bench/bench_mpi.py --epochs 5 --dtype float32 --ranks 2 4

The script starts its own runs, each in a fresh process with its BLAS thread count fixed
through ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS``:

* one process with 1 BLAS thread, the baseline ``t1``;
* one process with ``N`` BLAS threads (``N`` = the largest rank count), the same cores
  used by threads instead of ranks;
* ``mpiexec -n N python -m mpi4py bench_mpi.py --worker`` with 1 thread per rank.

Every run trains the same network with Adam on the same data (synthetic, 10 classes) with
the same global batch, so the ranks share the arithmetic of each batch and one
``Allreduce`` of the flat gradient per step sums it. The first epoch is a warm-up and not
counted; the median of the timed epochs is taken, then the median of that over
``--rounds`` repetitions of every run (interleaved, in a different order each round).
Printed: seconds per epoch, speedup and scaling efficiency ``t1 / (N · tN)`` against the
1-thread process, the speedup against the ``N``-thread process, and the share of an epoch
spent in ``Allreduce`` (waiting for the slower rank included). On a shared machine the
times are noisy; compare them within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

LAUNCHER_VARS = (
    "PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
    "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "PMIX_RANK", "DELTAPROP_DISTRIBUTED",
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--ranks", type=int, nargs="+", default=[2], help="rank counts to run")
    p.add_argument("--rounds", type=int, default=3, help="repetitions of every run, interleaved")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------
# One run (a process, or every rank of an MPI job)
# ---------------------------------------------------------------------------------------
class TimedCommunicator:
    """Forwards to a communicator and adds up the time spent in ``allreduce``."""

    def __init__(self, comm: Any) -> None:
        self.comm, self.rank, self.size = comm, comm.rank, comm.size
        self.seconds = 0.0

    def split(self, n: int) -> slice:
        return self.comm.split(n)

    def allreduce(self, buffer: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.comm.allreduce(buffer)
        self.seconds += time.perf_counter() - t0


def worker(args: argparse.Namespace) -> None:
    from deltaprop import Callback, Network, Trainer
    from deltaprop.parallel import get_communicator, is_root

    mpi = get_communicator("auto")
    comm = None if mpi is None else TimedCommunicator(mpi)
    rng = np.random.default_rng(0)  # the same data on every rank (replicated)
    X = rng.standard_normal((args.rows, args.features))
    centers = rng.standard_normal((args.classes, args.features))
    y = np.argmax(X @ centers.T + rng.standard_normal((args.rows, args.classes)), axis=1)
    Y = np.eye(args.classes)[y]
    sizes = [args.features, *args.hidden, args.classes]
    net = Network(sizes, "relu", "categorical_crossentropy", seed=0, dtype=args.dtype)

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.allreduce: list[float] = []
            self.t0 = self.a0 = 0.0

        def start(self) -> None:
            self.t0 = time.perf_counter()
            self.a0 = 0.0 if comm is None else comm.seconds

        def on_train_begin(self, trainer: Trainer) -> None:
            self.start()

        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
            self.times.append(time.perf_counter() - self.t0)
            self.allreduce.append(0.0 if comm is None else comm.seconds - self.a0)
            self.start()

    timer = EpochTimer()
    trainer = Trainer(
        net, "adam", learning_rate=1e-3, batch_size=args.batch_size, epochs=1 + args.epochs,
        tol=0.0, n_iter_no_change=10**6, seed=0, callbacks=[timer], communicator=comm,
    )  # fmt: skip
    trainer.fit(X, Y)
    if is_root(comm):
        epochs = timer.times[1:]  # the first epoch is a warm-up
        result = {
            "ranks": 1 if comm is None else comm.size,
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "epoch_s": statistics.median(epochs),
            "allreduce_s": statistics.median(timer.allreduce[1:]),
            "loss": trainer.history.loss[-1],
        }
        print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------
def find_mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("mpiexec not found: pip install 'deltaprop[mpi]' (or load your site's MPI)")
    return found


def launch(args: argparse.Namespace, ranks: int, threads: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    script = [str(Path(__file__).resolve()), "--worker", *forwarded(args)]
    if ranks == 1:
        cmd = [sys.executable, *script]
    else:
        cmd = [find_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", *script]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def forwarded(args: argparse.Namespace) -> list[str]:
    return [
        "--rows", str(args.rows), "--features", str(args.features),
        "--hidden", *map(str, args.hidden), "--classes", str(args.classes),
        "--batch-size", str(args.batch_size), "--epochs", str(args.epochs),
        "--dtype", args.dtype,
    ]  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    sizes = "-".join(map(str, [args.features, *args.hidden, args.classes]))
    print(
        f"deltaprop data-parallel scaling: {args.rows} × {args.features}, network {sizes}, "
        f"Adam, global batch {args.batch_size}, {args.dtype}; median of {args.epochs} "
        f"epochs after a warm-up, median of {args.rounds} interleaved rounds; "
        f"{os.cpu_count()} CPUs"
    )
    n_max = max(args.ranks)
    plan = [(1, 1)] + ([(1, n_max)] if n_max > 1 else []) + [(n, 1) for n in args.ranks if n > 1]
    results: dict[tuple[int, int], list[dict[str, Any]]] = {key: [] for key in plan}
    for r in range(args.rounds):  # interleaved, in a different order each round
        for key in plan[r % len(plan) :] + plan[: r % len(plan)]:
            results[key].append(launch(args, *key))

    def median_run(key: tuple[int, int]) -> dict[str, Any]:
        runs = results[key]
        return {
            "ranks": runs[0]["ranks"],
            "epoch_s": statistics.median(r["epoch_s"] for r in runs),
            "allreduce_s": statistics.median(r["allreduce_s"] for r in runs),
        }

    t1 = median_run((1, 1))
    tn_threads = median_run((1, n_max)) if n_max > 1 else t1
    runs = [median_run((n, 1)) for n in args.ranks if n > 1]
    header = f"{'run':<26}{'s/epoch':>9}{'allreduce':>11}{'speedup':>9}{'efficiency':>12}"
    print(header)
    print("-" * len(header))

    def row(name: str, r: dict[str, Any], n: int) -> None:
        speedup = t1["epoch_s"] / r["epoch_s"]
        share = f"{100 * r['allreduce_s'] / r['epoch_s']:.1f}%" if r["ranks"] > 1 else "-"
        print(f"{name:<26}{r['epoch_s']:>9.3f}{share:>11}{speedup:>9.2f}{speedup / n:>12.0%}")

    row("1 process, 1 thread", t1, 1)
    if n_max > 1:
        row(f"1 process, {n_max} threads", tn_threads, n_max)
    for r in runs:
        n = r["ranks"]
        row(f"{n} ranks × 1 thread (MPI)", r, n)
    for r in runs:
        n = r["ranks"]
        print(
            f"{n} ranks: efficiency t1/({n}·t{n}) = {t1['epoch_s'] / (n * r['epoch_s']):.0%} "
            f"against 1 thread; speedup {tn_threads['epoch_s'] / r['epoch_s']:.2f}× against "
            f"1 process with {n_max} threads on the same cores"
        )


if __name__ == "__main__":
    main()
