"""The kernels' switch and loader (deltaprop.core.fused): the compiled loop's kernels at
every size, the per-operation kernels from MIN_SIZE entries, nothing while switched off;
never a function of what the process asked before; accepts_out asked once per function; a
compile (not a load from the cache) announced on the compile logger."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from deltaprop.core import fused as _fused
from deltaprop.core.activations import ReLU


def test_load_serves_every_size_and_get_from_min_size() -> None:
    pytest.importorskip("numba")
    if not _fused.enabled():
        pytest.skip("compiled kernels switched off (DELTAPROP_FUSED=0)")
    kernels = _fused.load()
    assert kernels is not None and hasattr(kernels, "add_bias")
    assert _fused.get(_fused.MIN_SIZE) is kernels
    assert _fused.get(10**7) is kernels
    assert _fused.get(_fused.MIN_SIZE - 1) is None  # after large sizes were asked about
    assert _fused.get(1) is None
    assert _fused.load() is kernels  # the compiled loop: any size


def test_switched_off_nothing_loads() -> None:
    previous = _fused.set_enabled(False)
    try:
        assert not _fused.enabled()
        assert _fused.load() is None
        assert _fused.get(10**7) is None
    finally:
        _fused.set_enabled(previous)
    assert _fused.enabled() is previous


class NoOut(ReLU):
    """A user activation whose forward takes no ``out``."""

    def forward(self, Z):  # type: ignore[no-untyped-def, override]
        return super().forward(Z)


class Callable:
    __hash__ = None  # type: ignore[assignment]  # unhashable: not cached, still answered

    def __call__(self, Z, out=None):  # type: ignore[no-untyped-def]
        return Z


def test_accepts_out_per_method_and_cached() -> None:
    relu, user = ReLU(), NoOut()
    assert _fused.accepts_out(relu.forward, relu.backward)
    assert not _fused.accepts_out(user.forward, user.backward)
    assert _fused.accepts_out(ReLU().forward)  # another instance: the function's cached answer
    assert _fused._takes_out_cached.cache_info().hits >= 1
    assert _fused.accepts_out(Callable())


def test_a_compile_is_announced_and_a_load_from_the_cache_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    numba = pytest.importorskip("numba")
    (tmp_path / "doubling.py").write_text("def double(x):\n    return 2.0 * x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import doubling
    finally:
        sys.path.remove(str(tmp_path))
    records = []
    for _ in range(2):  # the second dispatcher finds the first one's machine code on disk
        function = numba.njit(cache=True)(doubling.double)
        _fused.load_quickly(function)
        _fused.announce_compiles(function, "the doubling")
        _fused.announce_compiles(function, "the doubling")  # once per dispatcher
        with caplog.at_level(logging.INFO, logger=_fused.COMPILE_LOGGER):
            assert function(np.ones(3, np.float32)).tolist() == [2.0] * 3
        records.append(list(caplog.records))
        caplog.clear()
    compile_start, compile_end = records[0]
    assert compile_start.getMessage().startswith(
        "compiling the doubling for float32: tens of seconds, once on this machine"
    )
    assert compile_end.getMessage().startswith("compiled the doubling for float32 in ")
    assert compile_end.seconds > 0  # type: ignore[attr-defined]
    assert records[1] == []


def test_the_announced_dtype_is_the_first_float_matrixs() -> None:
    types = pytest.importorskip("numba.core.types")
    f32, f64 = types.float32[:, ::1], types.float64[::1]
    assert _fused._dtype_of((types.int64, types.int64[::1], f64, f32)) == "float32"
    assert _fused._dtype_of((types.int64, f64)) == "float64"
    assert _fused._dtype_of((types.int64,)) == "its arguments"
