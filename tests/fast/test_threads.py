"""How many threads share a step of the compiled loop (deltaprop.fast.loop.CompiledLoop.step_threads):
by default what the step's work is worth, ``DELTAPROP_THREADS`` exactly; never the bits."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop
from deltaprop.fast import loop as fast_loop
from deltaprop.fast.loop import CompiledLoop
from deltaprop.fast.threads import MIN_WORK_PER_THREAD

pytest.importorskip("numba")


def _loop(sizes: list[int], monkeypatch: pytest.MonkeyPatch, threads: str | None) -> CompiledLoop:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    if threads is None:
        monkeypatch.delenv("DELTAPROP_THREADS", raising=False)
        monkeypatch.setattr(fast_loop, "default_threads", lambda: 4)  # 4 cores, say
    else:
        monkeypatch.setenv("DELTAPROP_THREADS", threads)
    X = np.zeros((10, sizes[0]))
    Y = np.zeros((10, sizes[-1]))
    net = deltaprop.Network(sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "ce", seed=0)
    opt = deltaprop.optim.optimizers.get_optimizer("adam")
    loop = CompiledLoop.create(net, opt, X, Y, None, 0.0, None, None, watches_batches=False)
    assert loop is not None
    return loop


def test_a_small_step_runs_on_one_thread_and_a_large_one_on_several(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = _loop([4, 32, 3], monkeypatch, None)  # 224 weights
    assert tiny.n_threads == 4 and tiny.by_work
    assert [tiny.step_threads(m) for m in (1, 32, 200, 2000)] == [1, 1, 1, 1]
    digits = _loop([64, 100, 10], monkeypatch, None)  # 7,400 weights
    assert digits.n_weights * 200 // MIN_WORK_PER_THREAD == 2
    assert [digits.step_threads(m) for m in (32, 200, 2000)] == [1, 2, 4]
    # at most one block of rows each (16 rows a block)
    assert digits.step_threads(40) == 1 and _loop([784, 256, 10], monkeypatch,
                                                 None).step_threads(40) == 2  # fmt: skip


def test_deltaprop_threads_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """The determinism tests set it to run small networks on 2-4 threads."""
    tiny = _loop([4, 32, 3], monkeypatch, "3")
    assert not tiny.by_work
    assert [tiny.step_threads(m) for m in (1, 32, 48, 200)] == [1, 2, 3, 3]
