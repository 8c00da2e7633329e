"""Where one training step of deltaprop goes: the breakdown behind bench/PROFILE.md.

Usage::

    python bench/profile_step.py [CASE ...]        # large digits deep batch32 fixed

For each case the pieces of one mini-batch step of ``Trainer._fit_sgd`` are timed one by
one (median of many repetitions, in µs), on the trained network's real shapes:

``gather``      the shuffled batch rows ``X[idx]``, ``Y[idx]``
``gemm``        the matrix products alone (forward ``A Wᵀ``, ``dW = dZᵀ A``, ``dA = dZ W``),
                preallocated, back to back: the arithmetic floor
``forward``     the forward pass and the loss (``_cost``), GEMMs included
``backward``    ``backward`` minus ``_cost``: output error, dW, db, dA, activation derivatives
``checks``      the finiteness check and the per-layer ``‖dW‖`` of the history
``optimizer``   ``opt.step`` (Adam over the flat buffer)
``step``        the whole loop body as the trainer runs it (one epoch / number of steps)

``elementwise + Python`` is then ``forward + backward - gemm``. The script runs against
whatever ``deltaprop`` is importable (``PYTHONPATH=... python bench/profile_step.py`` profiles
another checkout): it uses the preallocated buffers and ``_fused`` where they exist.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import gemm_shapes_time, make_cases

import deltaprop


def _median_us(f: Callable[[], object], reps: int) -> float:
    f()
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        times.append((time.perf_counter() - t0) / reps)
    return 1e6 * float(np.median(times))


def profile(name: str) -> dict[str, float]:
    case = make_cases()[name]()
    X, Y, bs = case.X, case.Y, case.batch_size
    net = deltaprop.Network(case.sizes, "relu", "ce", dtype="float32", seed=0)
    tr = deltaprop.Trainer(net, "adam", learning_rate=1e-3, batch_size=bs, epochs=1, tol=0.0,
                          n_iter_no_change=10**9, seed=0)  # fmt: skip
    tr.fit(X, Y)  # warm: buffers, kernels, optimizer state
    warm = net.parameters.copy()  # the timed steps below repeat one gradient: put these back
    steps = X.shape[0] // bs
    reps = max(5, int(20000 / (bs * math.prod(case.sizes[:2]) / 1e4 + 20)))
    new = "reuse_buffers" in inspect.signature(net.backward).parameters
    idx = np.random.default_rng(0).permutation(X.shape[0])[:bs]
    opt = tr.optimizer
    out: dict[str, float] = {}
    if new:
        from deltaprop.train import BatchGather, GradStats

        gather = BatchGather(X, Y)
        Xb, Yb = gather(idx)
        ws = net._workspace(bs)
        stats = GradStats(net)
        norms = np.zeros(net.n_layers)
        out["gather"] = _median_us(lambda: gather(idx), reps)
        out["forward"] = _median_us(lambda: net._cost(Xb, Yb, None, True, 0.0, None, ws), reps)
        whole = _median_us(lambda: net.backward(Xb, Yb, None, True, 0.0, reuse_buffers=True), reps)
        out["checks"] = _median_us(lambda: stats.dW_norms_into(norms), reps)
    else:
        Xb, Yb = X.take(idx, axis=0), Y.take(idx, axis=0)
        out["gather"] = _median_us(lambda: (X.take(idx, axis=0), Y.take(idx, axis=0)), reps)
        out["forward"] = _median_us(lambda: net._cost(Xb, Yb, None, True, 0.0), reps)
        whole = _median_us(lambda: net.backward(Xb, Yb, None, True, 0.0), reps)

        def checks() -> None:
            bool(np.isfinite(net.grad).all())
            for layer in net.dense:
                math.sqrt(float(np.vdot(layer.grads["W"], layer.grads["W"])))

        out["checks"] = _median_us(checks, reps)
    out["backward"] = whole - out["forward"]
    out["optimizer"] = _median_us(lambda: opt.step(net.parameters, net.grad), reps)
    out["gemm"] = 1e6 * gemm_shapes_time(case)
    epochs = max(1, int(2e5 / (steps * (out["forward"] + out["backward"] + 50))))
    tr.epochs = epochs
    net.parameters[...] = warm
    opt.reset()
    t0 = time.perf_counter()
    tr.fit(X, Y)
    out["step"] = 1e6 * (time.perf_counter() - t0) / (epochs * steps)
    out["elementwise+python"] = out["forward"] + out["backward"] - out["gemm"]
    parts = ("gather", "forward", "backward", "checks", "optimizer")
    out["loop overhead"] = out["step"] - sum(out[k] for k in parts)
    return out


def main() -> None:
    names = sys.argv[1:] or ["large", "digits", "deep", "batch32", "fixed"]
    keys = ["step", "gemm", "forward", "backward", "elementwise+python", "optimizer",
            "checks", "gather", "loop overhead"]  # fmt: skip
    print(f"deltaprop from {Path(deltaprop.__file__).parent}  (µs per step, medians)")
    print(f"{'case':<9}" + "".join(f"{k:>20}" for k in keys))
    for name in names:
        res = profile(name)
        print(f"{name:<9}" + "".join(f"{res[k]:>20.1f}" for k in keys), flush=True)


if __name__ == "__main__":
    main()
