"""Does a NumPy call just before a deltaprop fit slow the fit? (docs/benchmarks.md)

Usage::

    python bench/probe_pools.py [--fits 5]

Times ``Trainer.fit`` of ``bench/run.py``'s digits case (µs per step), ``--fits`` fits per
kind of call made just before each fit: nothing, a plain-NumPy fit, a plain-NumPy fit then
0.3 s of sleep (the harness's ``--settle``), the GEMM floor measurement, and that then 0.3 s
of sleep. NumPy's OpenBLAS pool keeps spinning for a while after a call, beside the compiled
loop's threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import Backprop, PlainNumpy
from run import gemm_peak_rate, gemm_shapes_time, make_cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fits", type=int, default=5)
    args = p.parse_args(argv)
    case = make_cases()["digits"]()
    ours, plain = Backprop(case), PlainNumpy(case)
    steps = case.epochs * (case.X.shape[0] // case.batch_size)

    def fit_us(sut: Backprop | PlainNumpy, seed: int) -> float:
        sut.prepare(seed)
        t0 = time.perf_counter()
        sut.train(case.epochs)
        return (time.perf_counter() - t0) / steps * 1e6

    fit_us(ours, 0)
    fit_us(plain, 0)
    time.sleep(0.3)
    for kind in ("alone", "numpy", "numpy+settle", "gemm", "gemm+settle", "alone"):
        times = []
        for r in range(args.fits):
            if kind.startswith("numpy"):
                fit_us(plain, r)
            elif kind.startswith("gemm"):
                gemm_peak_rate()
                gemm_shapes_time(case)
            if kind.endswith("settle") or kind == "alone":
                time.sleep(0.3)
            times.append(fit_us(ours, r))
        print(f"{kind:<14}" + " ".join(f"{t:6.0f}" for t in times), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
