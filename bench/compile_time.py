"""First-fit compile time of each configuration, numba's on-disk cache cold and warm.

Usage::

    python bench/compile_time.py                 # every row of bench/matrix.py
    python bench/compile_time.py --rows adam-digits gelu --json compile.json

For each row, a fresh process (``--child``) imports deltaprop, builds the row's data, and
times two fits of a fresh estimator (``deltaprop.sklearn``, as a user calls it): the first
fit pays the compilation (or the loading) of the numba code, the second is warm; the
difference is the first-fit cost. The process runs twice with ``NUMBA_CACHE_DIR`` set to
a new temporary folder: the first time the cache is empty ("cold": numba compiles and
writes it), the second time it holds what the first wrote ("warm": numba loads it). The
check: a configuration compiled once loads in under a second in a new process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

LOAD_LIMIT_S = 1.0  # "a configuration compiled once loads in under a second"

SMALL_ROWS = {
    "iris-4-32-3": dict(sizes=[4, 32, 3], batch_size=32, epochs=50, activation="tanh",
                        dtype="float64"),
}  # fmt: skip
"""Rows beside the matrix's: iris on one hidden layer of 32 (one of ``--hidden auto``'s
candidates) with the command's batch of 32, tanh hidden units (the command's default is
relu), in float64, as the estimator fits it; a network of 259 parameters."""


def _build(row: str, quick: bool) -> Any:
    """The matrix's row, or one of :data:`SMALL_ROWS` with iris."""
    from matrix import build

    if row not in SMALL_ROWS:
        return build(row, quick)
    from peers_matrix import Config
    from sklearn.datasets import load_iris

    cfg = Config(name=row, **SMALL_ROWS[row])  # type: ignore[arg-type]
    cfg.epochs = 1 if quick else cfg.epochs
    X, y = load_iris(return_X_y=True)
    cfg.X, cfg.y = X.astype(cfg.dtype), y
    return cfg


def child(row: str, quick: bool) -> None:
    """Print the import, first-fit and warm-fit seconds of ``row`` as one JSON line."""
    t0 = time.perf_counter()
    import deltaprop  # noqa: F401

    t_import = time.perf_counter() - t0
    from peers_matrix import DeltapropEstimator

    cfg = _build(row, quick)
    fits = []
    for seed in (0, 1):
        est = DeltapropEstimator(cfg)
        est.prepare(seed)
        t0 = time.perf_counter()
        est.train()
        fits.append(time.perf_counter() - t0)
    print(json.dumps({"import_s": t_import, "first_s": fits[0], "warm_s": fits[1]}))


def measure(row: str, quick: bool) -> dict[str, Any]:
    """Cold and warm cache: two new processes on one new ``NUMBA_CACHE_DIR``."""
    out: dict[str, Any] = {"row": row}
    with tempfile.TemporaryDirectory(prefix="deltaprop-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for kind in ("cold", "warm"):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", row, *(["--quick"] if quick else [])],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"{row} ({kind}) failed:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            out[kind] = {**r, "first_fit_cost_s": r["first_s"] - r["warm_s"]}
    out["loads_under_1s"] = out["warm"]["first_fit_cost_s"] < LOAD_LIMIT_S
    return out


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: the first-fit cost, cache cold and warm, and the under-a-second check."""
    lines = [
        "| row | import (s) | first-fit cost, cache cold (s) | first-fit cost, cache warm (s)"
        " | warm fit (s) | loads in < 1 s |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        c, w = r["cold"], r["warm"]
        lines.append(
            f"| {r['row']} | {w['import_s']:.2f} | {c['first_fit_cost_s']:.2f} | "
            f"{w['first_fit_cost_s']:.2f} | {w['warm_s']:.3f} | "
            f"{'yes' if r['loads_under_1s'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from matrix import ROWS

    rows = [*SMALL_ROWS, *(r for r in ROWS if r != "command")]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="+", default=rows, choices=rows)
    p.add_argument("--quick", action="store_true", help="1 epoch per fit")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.quick)
        return 0
    results = []
    for row in args.rows:
        results.append(measure(row, args.quick))
        print(f"{row}: cold {results[-1]['cold']['first_fit_cost_s']:.2f} s, "
              f"warm {results[-1]['warm']['first_fit_cost_s']:.2f} s", flush=True)  # fmt: skip
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["loads_under_1s"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
