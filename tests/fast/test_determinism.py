"""The same seed gives the same bits whatever the threads, the cores and the process's past.

Each check runs fits in fresh processes (the thread count is read from the environment,
and what a process did before is what is under test) and compares the SHA-256 of the
trained parameters and of the loss history.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

SRC = str(Path(__file__).resolve().parents[2] / "src")

# Each configuration: network sizes, hidden activation, optimizer and its arguments, dtype,
# batch size, sample weights, gradient clipping ("+bn": batch norm after each hidden
# layer, its statistics from the blocks of rows). 203 rows: no batch size divides it. The last
# two are far below the per-operation kernels' size (deltaprop.core.fused.MIN_SIZE).
CONFIGS = {
    "adam64": ([20, 90, 60, 4], "relu", "adam", {}, "float64", 50, False, None),
    "sgd32": ([20, 90, 60, 4], "tanh", "sgd", {}, "float32", 37, False, None),
    "momentum_weights": ([20, 90, 60, 4], "relu", "momentum", {}, "float64", 64, True, None),
    "nesterov_clip32": ([20, 90, 60, 4], "sigmoid", "nesterov", {}, "float32", 33, True, 0.5),
    "adamw_batch_200": ([20, 90, 60, 4], "relu", "adamw", {}, "float64", 200, False, None),
    "wide_first": ([300, 240, 30, 4], "relu", "adam", {"amsgrad": True}, "float64", 45, True, None),
    "wide_first32": ([300, 240, 30, 4], "tanh", "sgd", {}, "float32", 96, False, 1.0),
    "small": ([4, 3, 3], "relu", "adam", {}, "float64", 40, False, None),  # 27 parameters
    "one_unit32": ([4, 1, 3], "tanh", "momentum", {}, "float32", 64, True, None),
    "batch_norm32": ([20, 90, 60, 4], "relu+bn", "adam", {}, "float32", 50, True, None),
}

SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import deltaprop
from deltaprop.train import trainer as training

def fit(sizes, act, opt, kw, dtype, batch, weights, clip, n=203):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    w = rng.uniform(0.2, 2.0, n).astype(dtype) if weights else None
    bn = act.endswith("+bn")
    acts = [act.removesuffix("+bn")] * (len(sizes) - 2) + ["softmax"]
    net = deltaprop.Network(sizes, acts, "ce", dtype=dtype, seed=3, batch_norm=bn)
    optimizer = deltaprop.optim.optimizers.get_optimizer(opt, **kw)
    tr = deltaprop.Trainer(net, optimizer, learning_rate=0.01, batch_size=batch, epochs=3,
                           seed=1, tol=0.0, clip_norm=clip)
    used = []
    real = training.CompiledLoop.create
    def create(*a, **k):
        loop = real(*a, **k)
        used.append(loop is not None)
        return loop
    training.CompiledLoop.create = staticmethod(create)
    try:
        tr.fit(X, Y, sample_weight=w)
    finally:
        training.CompiledLoop.create = real
    h = hashlib.sha256(net.parameters.tobytes())
    h.update(np.asarray(tr.history.as_dict()["loss"]).tobytes())
    return h.hexdigest(), all(used)

out = {}
for name, cfg in json.loads(sys.argv[1]).items():
    out[name] = fit(*cfg)
print(json.dumps(out))
"""


LARGE = ([784, 256, 128, 10], "relu", "adam", {}, "float32", 128, False, None, 600)
"""A large fit (the compiled loop, the kernels loaded) to run before the others."""


def _run(configs: dict, *, threads: str | None = None,
         prefix: tuple[str, ...] = ()) -> dict[str, list]:  # fmt: skip
    """The fits ``configs`` (name: arguments) in order, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("DELTAPROP_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["DELTAPROP_THREADS"] = threads
    cmd = [*prefix, sys.executable, "-c", SCRIPT, json.dumps(configs)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_same_bits_on_1_to_4_threads_and_after_a_large_fit() -> None:
    runs = {f"threads={t}": _run(CONFIGS, threads=str(t)) for t in ("1", "2", "3", "4")}
    after = _run({"large": LARGE, **CONFIGS}, threads="2")
    runs["threads=2 after a large fit"] = {k: after[k] for k in CONFIGS}
    reference = runs["threads=1"]
    assert all(used for _, used in reference.values())  # every configuration ran compiled
    assert len({digest for digest, _ in reference.values()}) == len(CONFIGS)
    for label, result in runs.items():
        assert result == reference, label


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset is not installed")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_same_bits_on_one_core_and_on_two() -> None:
    """The default thread count follows the cores (taskset): the bits do not."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    configs = {k: CONFIGS[k] for k in ("adam64", "nesterov_clip32", "wide_first")}
    one = _run(configs, prefix=("taskset", "-c", str(cores[0])))
    two = _run(configs, prefix=("taskset", "-c", f"{cores[0]},{cores[1]}"))
    assert one == two
    assert all(used for _, used in one.values())


def test_a_small_fit_gives_the_same_bits_before_and_after_a_large_one() -> None:
    """The choice of loop and kernels depends on the fit, not on the process's past: a
    small network (compiled, as every network) trained in a fresh process, and again after
    a large fit."""
    small = {"small": ([8, 12, 3], "relu", "adam", {}, "float64", 40, False, None)}
    fresh = _run(small, threads="2")
    after = _run({**small, "large": LARGE, "again": small["small"]}, threads="2")
    assert fresh["small"][1] is True  # the compiled loop, at 147 parameters
    assert after["large"][1] is True
    assert after["small"] == after["again"] == fresh["small"]


def test_without_numba_the_python_loop_trains_the_same() -> None:
    """On a Python that numba does not support, deltaprop imports and trains in the Python
    loop (numba made unimportable in a fresh process): the compiled loop's training to
    rounding (float64, the configurations with no exp in the hidden layers' derivatives)."""
    configs = {k: CONFIGS[k] for k in ("adam64", "momentum_weights", "wide_first")}
    script = SCRIPT.replace("hashlib.sha256(net.parameters.tobytes())", "None").replace(
        'h.update(np.asarray(tr.history.as_dict()["loss"]).tobytes())\n    return h.hexdigest(), all(used)',
        "return net.parameters.tolist(), all(used)",
    )
    blocked = "import sys; sys.modules['numba'] = None\n" + script
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    results = {}
    for label, code in (("numba", script), ("no numba", blocked)):
        done = subprocess.run([sys.executable, "-c", code, json.dumps(configs)], env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        assert done.returncode == 0, done.stderr
        results[label] = json.loads(done.stdout.splitlines()[-1])
    for name in configs:
        compiled, used = results["numba"][name]
        python, used_without = results["no numba"][name]
        assert used and not used_without
        np.testing.assert_allclose(python, compiled, rtol=1e-9, atol=1e-12)
