"""The configuration matrix: each row raced in one run, deltaprop against its peers.

Usage::

    python bench/matrix.py                          # every row, every system
    python bench/matrix.py --rows adam-digits gelu --rounds 7 --json out.json
    python bench/matrix.py --quick                  # tiny epochs and one round (smoke test)
    python bench/matrix.py --markdown               # also the summary as a Markdown table

Each row is one configuration (``ROWS``); its data are built once, then every system of the
row trains a fresh model (``prepare``, not timed) and ``fit`` s it (timed), the systems
interleaved in a different order every round, after one warm-up round (JIT compilation,
caches) that is not counted; the median over the rounds is reported. Before each timed fit
the harness waits ``--settle`` seconds, so that the thread pools a previous system woke
(NumPy's OpenBLAS, torch's OpenMP) are asleep again and every system starts from the same
quiet machine (see docs/benchmarks.md: without it a deltaprop fit that follows a NumPy or
GEMM call runs ~3x slower). The GEMM peak (a 1024³ product through NumPy, per dtype) is
measured once, before the rows, not between the timed fits.

Printed per row and system: samples/s, µs per step, the ratio to deltaprop's Trainer level
(above 1 is faster than deltaprop), the fraction of the GEMM floor (the row's matrix-product
FLOPs per sample at the GEMM peak), and at the end a summary with each row's slowdown
against plain Adam of the same shape. "—" marks a peer without the row's feature.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import Missing
from peers_matrix import MATRIX_SYSTEMS, Config, MSystem, Unsupported
from run import _digits, _synthetic_784, gemm_peak_rate

BASELINE = "deltaprop-trainer"
OURS = ("deltaprop-est", "deltaprop-trainer", "deltaprop-command")
D, B = [64, 100, 10], 200  # the digits shape
L, BL = [784, 256, 128, 10], 128  # the 784 shape
E = 30  # digits epochs per fit: 210 steps

ROWS: dict[str, dict[str, Any]] = {
    "adam-784": dict(sizes=L, batch_size=BL, epochs=2, data="784", ref="adam-784",
                     description="plain Adam, ReLU, 784-256-128-10, batch 128"),
    "adam-digits": dict(sizes=D, batch_size=B, epochs=E, ref="adam-digits",
                        description="plain Adam, ReLU, 64-100-10, batch 200, digits"),
    "dropout": dict(sizes=D, batch_size=B, epochs=E, dropout=0.2, description="dropout 0.2"),
    "batchnorm": dict(sizes=D, batch_size=B, epochs=E, batch_norm=True, description="batch norm"),
    "gelu": dict(sizes=D, batch_size=B, epochs=E, activation="gelu", description="GELU (exact)"),
    "tanh-mae": dict(sizes=[64, 100, 1], batch_size=B, epochs=E, activation="tanh", task="reg",
                     data="reg", description="tanh, mean absolute error (regression, 64-100-1)"),
    "rmsprop": dict(sizes=D, batch_size=B, epochs=E, optimizer="rmsprop", description="RMSprop"),
    "float64": dict(sizes=D, batch_size=B, epochs=E, dtype="float64", description="float64"),
    "weights": dict(sizes=D, batch_size=B, epochs=E, weights=True,
                    description="sample weights (uniform 0.5-2)"),
    "fortran": dict(sizes=D, batch_size=B, epochs=E, layout="F",
                    description="Fortran-ordered X"),
    "frame": dict(sizes=D, batch_size=B, epochs=E, layout="frame",
                  description="DataFrame through make_pipeline(StandardScaler(), MLPClassifier())"),
    "command": dict(sizes=[20, 64, 32, 2], batch_size=BL, epochs=3, data="csv",
                    description="`deltaprop train` on a 100k×20 CSV vs the estimator"),
}  # fmt: skip
for _cfg in ROWS.values():
    _cfg.setdefault("ref", "adam-digits" if _cfg["sizes"] == D else "")


def build(name: str, quick: bool = False, workdir: Path | None = None) -> Config:
    """The row's configuration with its data (made here, once per row)."""
    spec = dict(ROWS[name])
    cfg = Config(name=name, **spec)
    if quick:
        cfg.epochs = 1
    if cfg.data == "784":
        cfg.X, cfg.y = _synthetic_784()[:2]
    elif cfg.data == "reg":
        X = _digits()[0]
        rng = np.random.default_rng(0)
        y = X @ rng.standard_normal(64) + 0.1 * rng.standard_normal(len(X))
        cfg.X, cfg.y = X, ((y - y.mean()) / y.std()).astype(np.float32)
    elif cfg.data == "csv":
        cfg.X, cfg.y = _csv_data(quick)
        path = (workdir or Path(tempfile.mkdtemp())) / "data100k.csv"
        frame = _frame(cfg.X)
        frame["y"] = cfg.y
        frame.to_csv(path, index=False)
        cfg.extra["csv"] = path
    else:
        cfg.X, cfg.y = _digits()[:2]
    cfg.X = cfg.X.astype(cfg.dtype)
    if cfg.weights:
        cfg.w = np.random.default_rng(1).uniform(0.5, 2.0, cfg.n_samples).astype(cfg.dtype)
    if cfg.layout == "F":
        cfg.X = np.asfortranarray(cfg.X)
    elif cfg.layout == "frame":
        cfg.X = _frame(cfg.X * 3.0 + 1.0)  # not standardized: the pipeline's scaler works
    return cfg


def _frame(X: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _csv_data(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    n = 12_800 if quick else 100_096  # a multiple of the batch size (JAX's batches)
    X, y = make_classification(n_samples=n, n_features=20, n_informative=10, random_state=0)
    return X.astype(np.float32), y


def flops_per_sample(sizes: list[int]) -> float:
    """Forward ``A Wᵀ`` and ``dW = dZᵀ A`` per layer, ``dA = dZ W`` but for the first: ×2."""
    pairs = list(itertools.pairwise(sizes))
    return 2.0 * (sum(2 * a * b for a, b in pairs) + sum(a * b for a, b in pairs[1:]))


# ---------------------------------------------------------------------------------------
# the command's row: `deltaprop train` on the CSV, and the same data through the estimator
# ---------------------------------------------------------------------------------------
class CommandTrain(MSystem):
    """``python -m deltaprop train data.csv`` in a new process (start-up and CSV included)."""

    name = "deltaprop-command"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        if "csv" not in cfg.extra:
            raise Unsupported("the command's row only")

    def prepare(self, seed: int) -> None:
        c = self.cfg
        self.out = Path(c.extra["csv"]).parent / f"run{seed}"
        hidden = ",".join(map(str, c.sizes[1:-1]))
        self.argv = [
            sys.executable, "-m", "deltaprop", "train", str(c.extra["csv"]), "--target", "y",
            "--hidden", hidden, "--epochs", str(c.epochs), "--batch-size", str(c.batch_size),
            "--validation", "0", "--no-early-stopping", "--alpha", "0", "--dtype", c.dtype,
            "--seed", str(seed), "--no-report", "--quiet", "--force", "--out", str(self.out),
        ]  # fmt: skip

    def train(self) -> None:
        subprocess.run(self.argv, check=True, capture_output=True)


class EstimatorCSV(MSystem):
    """``pandas.read_csv`` + ``make_pipeline(StandardScaler(), MLPClassifier()).fit``."""

    name = "deltaprop-est"
    module = "deltaprop.sklearn"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        if "csv" not in cfg.extra:
            raise Unsupported("the command's row only")

    def prepare(self, seed: int) -> None:
        import importlib

        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        c = self.cfg
        kw: dict[str, Any] = dict(
            hidden_layer_sizes=tuple(c.sizes[1:-1]), alpha=0.0, batch_size=c.batch_size,
            max_iter=c.epochs, tol=0.0, n_iter_no_change=10**9, random_state=seed,
        )  # fmt: skip
        if self.module.startswith("deltaprop"):
            kw["dtype"] = c.dtype
        cls = importlib.import_module(self.module).MLPClassifier
        self.model = make_pipeline(StandardScaler(), cls(**kw))

    def train(self) -> None:
        import warnings

        import pandas as pd

        frame = pd.read_csv(self.cfg.extra["csv"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(frame.drop(columns="y"), frame["y"])


class SklearnCSV(EstimatorCSV):
    name = "scikit-learn"
    module = "sklearn.neural_network"


def systems_for(cfg: Config, names: list[str]) -> tuple[dict[str, MSystem], dict[str, str]]:
    """The row's systems, and why each of the others is absent (``—`` or missing)."""
    table: dict[str, type[MSystem]] = (
        {"deltaprop-command": CommandTrain, "deltaprop-est": EstimatorCSV,
         "scikit-learn": SklearnCSV} if "csv" in cfg.extra else dict(MATRIX_SYSTEMS)
    )  # fmt: skip
    systems: dict[str, MSystem] = {}
    absent: dict[str, str] = {}
    for name in names:
        if name not in table:
            continue
        try:
            systems[name] = table[name](cfg)
        except Unsupported as exc:
            absent[name] = f"— ({exc})"
        except (Missing, ImportError) as exc:
            absent[name] = f"MISSING: {exc}"
    return systems, absent


# ---------------------------------------------------------------------------------------
# the race
# ---------------------------------------------------------------------------------------
def race(cfg: Config, names: list[str], rounds: int, settle: float,
         peak: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    """Time every system of the row: ``rounds`` interleaved fits after one warm-up."""
    systems, absent = systems_for(cfg, names)
    times: dict[str, list[float]] = {n: [] for n in systems}
    order = list(systems)
    for r in range(rounds + 1):
        order = order[1:] + order[:1]
        for name in order:
            sut = systems[name]
            sut.prepare(seed=r)
            time.sleep(settle)
            t0 = time.perf_counter()
            sut.train()
            dt = time.perf_counter() - t0
            if r > 0:
                times[name].append(dt)
    samples = cfg.epochs * cfg.n_samples
    losses = {n: final_loss(cfg, s) for n, s in systems.items()}
    sps = {n: samples / float(np.median(t)) for n, t in times.items()}
    floor = peak[cfg.dtype] / flops_per_sample(cfg.sizes)
    return {
        "row": cfg.name, "description": cfg.description, "sps": sps,
        "step_us": {n: 1e6 * cfg.batch_size / v for n, v in sps.items()},
        "spread": {n: float(np.ptp(samples / np.array(t)) / sps[n]) for n, t in times.items()},
        "floor": floor, "floor_fraction": {n: v / floor for n, v in sps.items()},
        "loss": losses, "absent": absent, "ref": cfg.ref, "dtype": cfg.dtype, "epochs": cfg.epochs,
        "n_samples": cfg.n_samples, "rounds": rounds,
    }  # fmt: skip


def final_loss(cfg: Config, sut: MSystem) -> float | None:
    """The row's loss on its training data after the system's last fit (evaluation mode):
    the check that the systems train the same thing (same order of magnitude)."""
    try:
        native = sut.name in (*OURS, "scikit-learn")  # a frame goes through the pipeline
        out = sut.outputs(cfg.X if native else cfg.X_array())
    except NotImplementedError:
        return None
    if cfg.task == "clf":
        losses = -np.log(np.clip(out[np.arange(len(out)), np.asarray(cfg.y)], 1e-12, None))
    else:
        losses = np.abs(out[:, 0] - np.asarray(cfg.y))
    return float(np.average(losses, weights=cfg.w))


def verdicts(res: dict[str, Any]) -> list[str]:
    """Each deltaprop level against the best peer of the row."""
    sps = res["sps"]
    peers = {n: v for n, v in sps.items() if n not in OURS}
    if not peers:
        return []
    rival = max(peers, key=lambda n: peers[n])
    out = []
    for ours in OURS:
        if ours in sps:
            ratio = sps[ours] / peers[rival]
            word = "fastest" if ratio > 1 else "NOT fastest"
            out.append(f"{ours} is {word}: {ratio:.2f}× the best peer ({rival})")
    return out


def report(res: dict[str, Any]) -> str:
    sps = res["sps"]
    base = sps.get(BASELINE) or sps.get("deltaprop-est")
    lines = [
        f"== {res['row']}: {res['description']}  ({res['dtype']}, {res['epochs']} epochs × "
        f"{res['n_samples']:,} samples; GEMM floor {res['floor']:,.0f} samples/s)",
        f"   {'system':<19}{'samples/s':>12}{'µs/step':>10}{'±':>5}{'vs deltaprop':>13}"
        f"{'GEMM floor':>11}{'train loss':>11}",
    ]
    for name, v in sorted(sps.items(), key=lambda kv: -kv[1]):
        lines.append(
            f"   {name:<19}{v:>12,.0f}{res['step_us'][name]:>10.1f}"
            f"{100 * res['spread'][name]:>4.0f}%{v / base:>13.2f}"
            f"{res['floor_fraction'][name]:>11.1%}"
            + (f"{loss:>11.4f}" if (loss := res["loss"].get(name)) is not None else f"{'-':>11}")
        )
    for name, why in res["absent"].items():
        lines.append(f"   {name:<19}{why}")
    lines += [f"   {v}" for v in verdicts(res)]
    return "\n".join(lines)


COLUMNS = ["deltaprop-est", "deltaprop-trainer", "scikit-learn", "pytorch-eager", "jax-jit",
           "jax-scan"]  # fmt: skip


def summary(results: list[dict[str, Any]]) -> str:
    """The whole matrix as one Markdown table (samples/s; ``—``: no such feature)."""
    by_row = {r["row"]: r for r in results}
    head = ["row", *COLUMNS, "best peer ÷ ours", "vs plain Adam", "GEMM floor"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for res in results:
        sps = res["sps"]
        ours = max((v for n, v in sps.items() if n in OURS), default=float("nan"))
        peers = [v for n, v in sps.items() if n not in OURS]
        best = max(peers, default=float("nan"))
        ref = by_row.get(res["ref"])
        slow = "—"
        if ref is not None and "deltaprop-est" in ref["sps"] and "deltaprop-est" in sps:
            slow = f"{ref['sps']['deltaprop-est'] / sps['deltaprop-est']:.2f}×"
        cells = [f"{res['row']}: {res['description']}"]
        for col in COLUMNS:
            name = (
                "deltaprop-command"
                if col == "deltaprop-trainer" and res["row"] == "command"
                else col
            )
            v = sps.get(name)
            cells.append("—" if v is None else (f"**{v:,.0f}**" if v == ours else f"{v:,.0f}"))
        cells += [f"{best / ours:.2f}" if peers else "—", slow,
                  f"{res['floor_fraction'].get('deltaprop-est', float('nan')):.0%}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--systems", nargs="+", default=[*MATRIX_SYSTEMS, "deltaprop-command"],
                   choices=[*MATRIX_SYSTEMS, "deltaprop-command"])  # fmt: skip
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per row (median)")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds of quiet before each timed fit (default 0.3)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="1 epoch, 1 round, no settle: a smoke run")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--markdown", action="store_true", help="print the summary table")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.settle < 0:
        p.error(f"--rounds must be >= 1 and --settle >= 0. Received: {args.rounds}, {args.settle}")
    if args.quick:
        args.rounds, args.settle = 1, 0.0
    print(f"deltaprop matrix: {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"rounds={args.rounds}, settle={args.settle}s", flush=True)  # fmt: skip
    peak = {"float32": gemm_peak_rate(), "float64": gemm_peak_rate(dtype=np.float64)}
    print(f"   GEMM peak: {peak['float32'] / 1e9:.0f} GFLOP/s float32, "
          f"{peak['float64'] / 1e9:.0f} GFLOP/s float64 (1024³ through NumPy)")  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory(prefix="deltaprop-matrix-") as tmp:
        for name in args.rows:
            cfg = build(name, args.quick, Path(tmp))
            res = race(cfg, args.systems, args.rounds, args.settle, peak)
            results.append(res)
            print(report(res), flush=True)
    if args.markdown or len(results) > 1:
        print(summary(results))
    if args.json:
        args.json.write_text(json.dumps({"gemm_peak": peak, "rows": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
