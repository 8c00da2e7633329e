"""The kernels' switch and loader (deltaprop.core.fused): the compiled loop's kernels at
every size, the per-operation kernels from MIN_SIZE entries, nothing while switched off;
never a function of what the process asked before."""

from __future__ import annotations

import pytest

from deltaprop.core import fused as _fused


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
