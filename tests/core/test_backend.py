"""The array-module seam and the machine facts beside it (deltaprop/core/backend.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from deltaprop.core.backend import BACKENDS, get_backend, usable_cores


def test_the_numpy_backend_has_numpy_and_erfc() -> None:
    be = get_backend("numpy")
    assert be.xp is np
    np.testing.assert_allclose(be.erfc(np.array([0.0, 1.0])), [1.0, 0.157299207050285], rtol=1e-14)
    assert "numpy" in BACKENDS


def test_an_unknown_backend_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="numpy"):
        get_backend("tensorflow")


def test_usable_cores_follow_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5, 7})
        assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1
