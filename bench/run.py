"""Race deltaprop against its peers on the same networks and data, in one run.

Usage::

    python bench/run.py                      # every case, every system
    python bench/run.py --cases large digits --rounds 7
    python bench/run.py --no-memory          # skip the peak-memory subprocesses

For each case every available system trains the same network on the same data; the
systems are interleaved (a different order in every round) and each round is repeated, and
the median over the rounds is reported, after one warm-up round that is not counted (JIT
compilation, caches). Before each timed fit the harness waits ``--settle`` seconds (0.3), so
that the thread pools the previous system woke (NumPy's OpenBLAS, torch's OpenMP) are
asleep again: a deltaprop fit that starts beside a spinning OpenBLAS pool runs ~3x slower
(docs/benchmarks.md). Printed per system: samples per second, the ratio to deltaprop (above
1 is faster than deltaprop), the ratio to a plain NumPy implementation, the fraction of the
GEMM floor, peak memory and the test accuracy.

The GEMM floor is measured in the same run, two ways:

``floor(peak)``
    the case's matrix-product FLOPs per sample (forward ``A Wᵀ``, ``dW = dZᵀ A``, and
    ``dA = dZ W`` except for the first layer) at the rate of a large float32 GEMM
    (1024×1024×1024, NumPy's BLAS, all threads);
``floor(shapes)``
    the same matrix products, with the case's own shapes and batch size, run back to back
    through NumPy with preallocated outputs: what a step costs if it did nothing else.

Peak memory is measured in a separate process per system (``--probe-memory``): the high-water
mark of the resident set during construction and one epoch of training, over the resident
set after the data are made and the system's package is imported and its compiled code
loaded (torch's and JAX's libraries; for deltaprop numba and its cached kernels, whose loader
takes ~40 MiB once per process). JAX's compilation of the model is per model and counts.

Data: the 784-feature cases use a synthetic ``make_classification`` set (784 features, 10
classes, 64 informative features, class_sep=2, standardized; 12,800 training and 2,560 test samples); the
digits cases use scikit-learn's 8×8 digits scaled to [0, 1] (1,400 training, 397 test). No
download is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

from peers import SYSTEMS, Case, Missing, System

BASELINE = "deltaprop"
REFERENCE = "numpy-plain"
ACCURACY_SLACK = 0.05  # a system is "comparable" within 5 points of the best accuracy


# ---------------------------------------------------------------------------------------
# data and cases
# ---------------------------------------------------------------------------------------
def _synthetic_784() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=12800 + 2560, n_features=784, n_informative=64, n_redundant=0,
        n_classes=10, n_clusters_per_class=1, class_sep=2.0, random_state=0,
    )  # fmt: skip
    X = (X - X.mean(0)) / X.std(0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    return X[:12800], y[:12800], X[12800:], y[12800:]


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    X = (X[perm] / 16.0).astype(np.float32)
    y = y[perm]
    return X[:1400], y[:1400], X[1400:], y[1400:]


def make_cases() -> dict[str, Callable[[], Case]]:
    """The cases by name, each built on demand."""
    cache: dict[str, tuple[np.ndarray, ...]] = {}

    def data(name: str) -> tuple[np.ndarray, ...]:
        if name not in cache:
            cache[name] = _synthetic_784() if name == "784" else _digits()
        return cache[name]

    def case(name: str, src: str, sizes: list[int], bs: int, epochs: int, **kw: object) -> Case:
        X, y, Xt, yt = data(src)
        return Case(name, sizes, bs, X, y, Xt, yt, epochs, **kw)  # type: ignore[arg-type]

    return {
        "large": lambda: case("large", "784", [784, 256, 128, 10], 128, 2,
                              description="784-256-128-10, batch 128, synthetic 784-feature set"),
        "digits": lambda: case("digits", "digits", [64, 100, 10], 200, 60,
                               description="64-100-10, batch 200, digits"),
        "deep": lambda: case("deep", "digits", [64] + [64] * 10 + [10], 100, 20,
                             description="64-(64×10)-10, batch 100, digits"),
        "batch32": lambda: case("batch32", "784", [784, 256, 128, 10], 32, 1,
                                description="784-256-128-10, batch 32, synthetic 784-feature set"),
        "fixed": lambda: case("fixed", "digits", [64, 100, 10], 1, 1, check_accuracy=False,
                              description="fixed per-step cost: 64-100-10 at batch 1 (µs/step)"),
    }  # fmt: skip


# ---------------------------------------------------------------------------------------
# the GEMM floor
# ---------------------------------------------------------------------------------------
def gemm_peak_rate(k: int = 1024, repeats: int = 5, dtype: type = np.float32) -> float:
    """FLOP/s of a k×k×k matrix product of ``dtype`` through NumPy (median of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, k), dtype=dtype)
    b = rng.standard_normal((k, k), dtype=dtype)
    out = np.empty((k, k), dtype)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return 2.0 * k**3 / float(np.median(times))


def gemm_shapes_time(case: Case, steps: int = 20) -> float:
    """Seconds per step of the case's own matrix products, preallocated, back to back."""
    rng = np.random.default_rng(0)
    m, sizes = case.batch_size, case.sizes
    Ws = [rng.standard_normal((b, a), dtype=np.float32) for a, b in itertools.pairwise(sizes)]
    As = [rng.standard_normal((m, n), dtype=np.float32) for n in sizes]
    dWs = [np.empty_like(W) for W in Ws]
    dAs = [np.empty((m, n), np.float32) for n in sizes]

    def one() -> None:
        for i, W in enumerate(Ws):
            np.dot(As[i], W.T, out=As[i + 1])
        for i in range(len(Ws) - 1, -1, -1):
            np.dot(As[i + 1].T, As[i], out=dWs[i])
            if i > 0:
                np.dot(As[i + 1], Ws[i], out=dAs[i])

    one()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            one()
        times.append((time.perf_counter() - t0) / steps)
    return float(np.median(times))


# ---------------------------------------------------------------------------------------
# peak memory, one process per system
# ---------------------------------------------------------------------------------------
_IMPORTS = {
    "deltaprop": "deltaprop.core.kernels",  # numba too: a library import, as torch's
    "numpy-plain": "numpy",
    "scikit-learn": "sklearn.neural_network",
    "pytorch-eager": "torch",
    "jax-jit": "jax",
    "jax-scan": "jax",
}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def probe_memory(case_name: str, system: str) -> None:
    """Print the peak resident memory (MiB) that building and training one epoch adds."""
    import importlib

    case = make_cases()[case_name]()
    _ = case.Y
    try:
        module = importlib.import_module(_IMPORTS[system])
    except ImportError:
        if system != "deltaprop":
            print(json.dumps({"peak_mib": None}))
            return
        module = importlib.import_module("deltaprop")  # without numba, or an older deltaprop
    if hasattr(module, "relu_backward"):  # numba's loader starts on the first kernel call
        # numba's machine code serves every network size (JAX compiles per shape): loading
        # it is a one-off of the library, like importing torch, so a tiny network trains
        # first, in float32 as the case does, and the probe measures what the case adds.
        import deltaprop

        Xw = np.zeros((8, 4), np.float32)
        tiny = deltaprop.Network([4, 2048, 2], "relu", "categorical_crossentropy", dtype="float32")
        deltaprop.Trainer(tiny, "adam", batch_size=4, epochs=1).fit(
            Xw, np.eye(2, dtype=np.float32)[[0, 1] * 4]
        )
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
        f.write("5")
    base = _status_kb("VmRSS")
    sut = SYSTEMS[system](case)
    sut.prepare(0)
    sut.train(1)
    print(json.dumps({"peak_mib": (_status_kb("VmHWM") - base) / 1024}))


def measure_memory(case_name: str, system: str) -> float | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--probe-memory", case_name, system],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]
    except (IndexError, ValueError, KeyError):
        return None


# ---------------------------------------------------------------------------------------
# the race
# ---------------------------------------------------------------------------------------
def race(
    case: Case, names: list[str], rounds: int, memory: bool, settle: float = 0.3
) -> dict[str, object]:
    systems: dict[str, System] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            systems[name] = SYSTEMS[name](case)
        except (Missing, ImportError) as exc:
            missing[name] = str(exc)
    samples = case.epochs * case.X.shape[0]
    times: dict[str, list[float]] = {n: [] for n in systems}
    # The GEMM floor is measured before the rounds, not between the timed fits: its
    # all-thread products wake NumPy's OpenBLAS pool, whose spinning threads made the next
    # fit (deltaprop's compiled loop, on its own threads) ~3x slower (docs/benchmarks.md).
    peak_rates = [gemm_peak_rate() for _ in range(3)]
    shape_times = [gemm_shapes_time(case) for _ in range(3)]
    order = list(systems)
    for r in range(rounds + 1):  # round 0 warms up: JIT compilation, caches
        order = order[1:] + order[:1]
        for name in order:
            sut = systems[name]
            sut.prepare(seed=r)
            time.sleep(settle)  # the previous system's thread pools go back to sleep
            t0 = time.perf_counter()
            sut.train(case.epochs)
            dt = time.perf_counter() - t0
            if r > 0:
                times[name].append(dt)
    sps = {n: samples / float(np.median(t)) for n, t in times.items()}
    acc = {n: s.accuracy(case.X_test, case.y_test) for n, s in systems.items()}
    mem = {n: (measure_memory(case.name, n) if memory else None) for n in systems}
    peak = float(np.median(peak_rates))
    floor_peak = peak / case.flops_per_sample()
    floor_shapes = case.batch_size / float(np.median(shape_times))
    return {
        "case": case.name, "description": case.description, "sps": sps,
        "spread": {n: float(np.ptp(samples / np.array(t)) / sps[n]) for n, t in times.items()},
        "accuracy": acc, "memory_mib": mem, "missing": missing, "gemm_gflops": peak / 1e9,
        "floor_peak": floor_peak, "floor_shapes": floor_shapes,
        "step_us": {n: 1e6 * case.batch_size / v for n, v in sps.items()},
        "check_accuracy": case.check_accuracy,
    }  # fmt: skip


def report(res: dict) -> str:  # type: ignore[type-arg]
    sps: dict[str, float] = res["sps"]
    base = sps.get(BASELINE)
    ref = sps.get(REFERENCE)
    best_acc = max(res["accuracy"].values()) if res["accuracy"] else 0.0
    lines = [
        f"== {res['case']}: {res['description']}",
        f"   GEMM {res['gemm_gflops']:.0f} GFLOP/s (1024³ sgemm);  floor(peak) "
        f"{res['floor_peak']:,.0f} samples/s;  floor(shapes) {res['floor_shapes']:,.0f} samples/s",
        f"   {'system':<15}{'samples/s':>11}{'µs/step':>9}{'±':>5}{'vs deltaprop':>12}"
        f"{'vs numpy':>9}{'floor(peak)':>12}{'floor(shapes)':>14}{'peak MiB':>9}{'accuracy':>10}",
    ]
    for name, v in sorted(sps.items(), key=lambda kv: -kv[1]):
        mem = res["memory_mib"].get(name)
        acc = res["accuracy"][name]
        flag = "" if not res["check_accuracy"] or acc >= best_acc - ACCURACY_SLACK else " LOW"
        lines.append(
            f"   {name:<15}{v:>11,.0f}{res['step_us'][name]:>9.1f}"
            f"{100 * res['spread'][name]:>4.0f}%"
            f"{(v / base if base else float('nan')):>12.2f}"
            f"{(v / ref if ref else float('nan')):>9.2f}"
            f"{v / res['floor_peak']:>12.0%}{v / res['floor_shapes']:>14.0%}"
            f"{(f'{mem:.1f}' if mem is not None else '-'):>9}"
            f"{acc:>10.3f}{flag}"
        )
    for name, why in res["missing"].items():
        lines.append(f"   {name:<15}MISSING: {why}")
    if base:
        others = {n: v for n, v in sps.items() if n != BASELINE}
        if others:
            rival = max(others, key=lambda n: others[n])
            verdict = "fastest" if base > others[rival] else "NOT fastest"
            lines.append(
                f"   deltaprop is {verdict}: {base / others[rival]:.2f}× the best peer ({rival})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cases = make_cases()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(cases), choices=list(cases))
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per case (median)")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds of quiet before each timed fit (default 0.3)")  # fmt: skip
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--probe-memory", nargs=2, metavar=("CASE", "SYSTEM"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe_memory:
        probe_memory(*args.probe_memory)
        return 0
    print(f"deltaprop bench: {os.cpu_count()} CPUs, numpy {np.__version__}, rounds={args.rounds}")
    results = []
    for name in args.cases:
        res = race(cases[name](), args.systems, args.rounds, not args.no_memory, args.settle)
        results.append(res)
        print(report(res), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
