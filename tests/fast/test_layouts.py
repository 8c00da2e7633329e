"""Any memory layout of the training input: one conversion per fit, never a whole-array
copy per batch, in both loops (a batch's ``take`` from a Fortran-ordered array copies the
array whole), and the C-ordered fit's weights."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.train import trainer as training
from deltaprop.train.callbacks import Callback


class _EpochPeak(Callback):
    """The most memory that NumPy held at once during each epoch (tracemalloc)."""

    def __init__(self) -> None:
        self.peaks: list[int] = []

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        self.peaks.append(tracemalloc.get_traced_memory()[1] - self.base)


def _fit(X: np.ndarray, Y: np.ndarray, compiled: bool,
         monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, list[int], bool]:  # fmt: skip
    used: list[bool] = []
    real = training.CompiledLoop.create

    def create(*args: Any, **kw: Any) -> Any:
        loop = real(*args, **kw) if compiled else None
        used.append(loop is not None)
        return loop

    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(create))
    net = deltaprop.Network([X.shape[1], 8, 3], ["relu", "softmax"], "ce", seed=0)
    watch = _EpochPeak()
    tr = deltaprop.Trainer(net, "adam", batch_size=64, epochs=2, seed=0, callbacks=[watch])
    tracemalloc.start()
    try:
        tr.fit(X, Y)
    finally:
        tracemalloc.stop()
    return net.parameters.copy(), watch.peaks, all(used)


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_a_fortran_or_strided_input_is_converted_once_per_fit(
    compiled: bool, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if compiled:
        pytest.importorskip("numba")
        monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    rng = np.random.default_rng(0)
    C = rng.standard_normal((4000, 200))  # 6.4 MB
    Y = np.eye(3)[rng.integers(0, 3, 4000)]
    X = np.asfortranarray(C) if layout == "fortran" else np.repeat(C, 2, axis=1)[:, ::2]
    assert not X.flags.c_contiguous and np.array_equal(X, C)
    ref, _, _ = _fit(C, Y, compiled, monkeypatch)
    params, peaks, used = _fit(X, Y, compiled, monkeypatch)
    assert used == compiled
    np.testing.assert_array_equal(params, ref)  # the same training, bit for bit
    # during an epoch, no whole copy of X (a per-batch take from F order holds one)
    assert len(peaks) == 2 and max(peaks) < C.nbytes // 20, peaks


def test_read_only_input_runs_compiled_on_the_writeable_arrays_machine_code(
    tmp_path: Any,
) -> None:
    """A read-only memmap (scikit-learn's checks make them) trains compiled with the bits of
    a writeable copy, through the same compiled function (numba types a read-only array
    apart: one more ~20 s compilation per dtype), without copying the input."""
    pytest.importorskip("numba")
    from deltaprop.fast import epoch as fast_epoch

    rng = np.random.default_rng(4)
    X = rng.standard_normal((90, 5))
    Y = np.eye(3)[rng.integers(0, 3, 90)]
    np.save(tmp_path / "X.npy", X)
    frozen = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert not frozen.flags.writeable
    results = []
    for data in (X, frozen):
        net = deltaprop.Network([5, 8, 3], ["tanh", "softmax"], "ce", seed=1)
        tr = deltaprop.Trainer(net, "adam", batch_size=30, epochs=2, seed=0, tol=0.0)
        loop = training.CompiledLoop.create(net, tr.optimizer, data, Y, None, 0.0, None, None,
                                            watches_batches=False)  # fmt: skip
        assert loop is not None and loop.X.flags.writeable
        assert np.shares_memory(loop.X, data)  # a view, not a copy
        before = len(fast_epoch.run_steps.signatures)
        tr.fit(data, Y)
        assert tr.engine == "compiled"
        results.append(net.parameters.copy())
    assert len(fast_epoch.run_steps.signatures) == before  # no read-only specialization
    np.testing.assert_array_equal(results[0], results[1])
    assert not frozen.flags.writeable
