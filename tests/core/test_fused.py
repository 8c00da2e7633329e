"""The kernels' switch and loader (deltaprop.core.fused): the compiled loop's kernels at
every size, the per-operation kernels from MIN_SIZE entries, nothing while switched off;
never a function of what the process asked before; accepts_out asked once per function."""

from __future__ import annotations

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
