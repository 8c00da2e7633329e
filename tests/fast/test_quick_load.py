"""The compiled loop's cached machine code loads without numba's refresh of its compiler's
context (:func:`deltaprop.core.fused.load_quickly`), and trains to the same bits as numba's
own loading; anything that is not a numba dispatcher is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deltaprop.core import fused as _fused

numba = pytest.importorskip("numba")

SRC = Path(__file__).resolve().parents[2] / "src"

# a fit in a new process: how often numba refreshed its context, the engine, the weights;
# argv[1] "numba": numba's own loading (load_quickly made a no-op before anything loads)
FIT = """
import json, sys
import numpy as np
import numba.core.base as base
refreshes = []
refresh = base.BaseContext.refresh
def counted(self):
    refreshes.append(1)
    return refresh(self)
base.BaseContext.refresh = counted
from deltaprop.core import fused
if sys.argv[1] == "numba":
    fused.load_quickly = lambda *functions: None
from deltaprop import Network, Trainer
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 6))
Y = (X[:, :1] + X[:, 1:2] > 0).astype(float)
net = Network([6, 12, 1], "tanh", "binary_crossentropy", seed=0)
trainer = Trainer(net, "adam", learning_rate=1e-2, batch_size=32, epochs=3, seed=0)
trainer.fit(X, Y)
print(json.dumps({"refreshes": len(refreshes), "engine": trainer.engine,
                  "params": net.parameters.tolist()}))
"""


def _fit(how: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-c", FIT, how], capture_output=True, text=True,
                          env=env, timeout=600, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _fused.enabled(), reason="the compiled kernels are switched off")
def test_a_new_process_loads_the_loop_without_a_refresh_and_trains_the_same_bits() -> None:
    own = _fit("numba")  # also compiles, where nothing is cached yet
    quick = _fit("quick")
    assert own["engine"] == quick["engine"] == "compiled"
    assert own["refreshes"] > 0  # numba's way refreshes before it looks in the cache
    if _fused._quick_numba():
        assert quick["refreshes"] == 0
    np.testing.assert_array_equal(np.array(quick["params"]), np.array(own["params"]))


def test_load_quickly_leaves_anything_but_a_dispatcher_alone() -> None:
    def plain(x: float) -> float:
        return x

    class WithCache:
        _cache = object()  # not numba's Cache

    other = WithCache()
    _fused.load_quickly(plain, other, None, 3)
    assert not hasattr(plain, "_cache") and type(other._cache) is object


def test_a_dispatcher_loads_quickly_once_and_computes_as_before() -> None:
    jitted = numba.njit(cache=False)(lambda x: 2 * x)  # no cache: nothing to change
    _fused.load_quickly(jitted)
    assert jitted(3) == 6
    from deltaprop.fast.lists import _start

    if _fused._quick_numba():
        cache = _start._cache
        assert cache._quick and cache.load_overload.func is _fused._load_cached
        _fused.load_quickly(_start)  # again: the same loader, not wrapped twice
        assert _start._cache.load_overload.func is _fused._load_cached
