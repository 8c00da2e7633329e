"""``deltaprop.fast.activate``: the activations' kernels chosen by code, and GELU compiled
apart (the codes' dtype says whether a loop has it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("numba")

from deltaprop.core.activations import GELU, ReLU


def test_the_codes_are_int32_only_for_a_network_with_gelu() -> None:
    from deltaprop.fast.activate import activation_codes

    gelu, relu = GELU.compiled, ReLU.compiled
    assert activation_codes([gelu, 0]).dtype == np.int32
    assert activation_codes([relu, gelu, 0]).dtype == np.int32
    assert activation_codes([relu, 0]).dtype == np.intp
    np.testing.assert_array_equal(activation_codes([relu, gelu, 0]), [relu, gelu, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gelu_branch_runs_the_kernels_only_for_codes_of_its_type(dtype: type) -> None:
    """int32 codes: GELU's values and derivative; a GELU code of another type (a loop
    compiled without the GELU kernels) fills the output with NaN, never something else."""
    from deltaprop.fast.activate import activate, activation_backward

    Z = np.linspace(-4, 4, 12).reshape(3, 4).astype(dtype)
    expected = GELU().forward(Z.astype(np.float64))
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-14}
    A = np.empty_like(Z)
    activate(Z, A, np.int32(GELU.compiled), 0.0)
    np.testing.assert_allclose(A, expected, **tol)
    dA = np.ones_like(Z)
    activation_backward(dA, Z, A, np.int32(GELU.compiled), 0.0)
    np.testing.assert_allclose(dA, GELU().derivative(Z.astype(np.float64), expected),
                               **{**tol, "rtol": max(tol["rtol"], 1e-5)})  # fmt: skip
    activate(Z, A, np.intp(GELU.compiled), 0.0)
    assert np.isnan(A).all()
    activation_backward(dA, Z, A, np.intp(GELU.compiled), 0.0)
    assert np.isnan(dA).all()


PROBE = textwrap.dedent(
    """
    import inspect, json, sys
    import numpy as np
    import deltaprop
    from deltaprop.core import fused
    from deltaprop.fast import epoch, loop

    fused.MIN_SIZE = 0
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    names = list(inspect.signature(epoch.run_steps.py_func).parameters)
    out = {}
    for act in sys.argv[1:]:
        net = deltaprop.Network([3, 5, 1], [act, "identity"], "mse", seed=0, dtype="float32")
        tr = deltaprop.Trainer(net, "adam", batch_size=20, epochs=2, seed=0, tol=0.0)
        tr.fit(X, X[:, :1])
        codes = sorted({str(s[names.index("acts")].dtype) for s in epoch.run_steps.signatures})
        out[act] = [tr.engine, codes, bool(np.isfinite(net.parameters).all())]
    out["names"] = sorted({loop._loop_name(s) for s in epoch.run_steps.signatures})
    print(json.dumps(out))
    """
)


def test_a_gelu_network_gets_its_own_loop() -> None:
    """In a new process: a float32 ReLU fit runs the loop of ``intp`` codes (whose GELU branch
    is the NaN above: the GELU kernels are not in it); a GELU fit after it runs compiled, in
    the loop of ``int32`` codes, and trains to finite weights; the compile notices name the
    two loops."""
    env = {**os.environ, "DELTAPROP_DISTRIBUTED": "0"}
    result = subprocess.run([sys.executable, "-c", PROBE, "relu", "gelu"], capture_output=True,
                            text=True, env=env, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"relu": ["compiled", ["int64"], True],
                   "gelu": ["compiled", ["int32", "int64"], True],
                   "names": ["the training loop", "the training loop with GELU"]}  # fmt: skip
