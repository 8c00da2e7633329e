"""The kernels' cache stamp (core/jit.py): a digest of the kernels' modules, so that an
edit to a called kernel in another module makes the caller's cached machine code stale."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from deltaprop.core.jit import KERNEL_PACKAGES, jit, sources_digest, stamp_cache


def _tree(root: Path, text: str) -> Path:
    for package in KERNEL_PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "mod.py").write_text("x = 1\n")
    (root / "optim" / "step.py").write_text(text)
    (root / "app").mkdir(exist_ok=True)
    return root


def test_the_digest_follows_every_kernel_module_and_nothing_else(tmp_path: Path) -> None:
    a = sources_digest(_tree(tmp_path / "a", "def step(p, g):\n    return p - g\n"))
    b = sources_digest(_tree(tmp_path / "b", "def step(p, g):\n    return p - 2 * g\n"))
    again = sources_digest(_tree(tmp_path / "c", "def step(p, g):\n    return p - g\n"))
    assert a != b and a == again and len(a) == 32
    (tmp_path / "c" / "app" / "cli.py").write_text("print('not a kernel module')\n")
    sources_digest.cache_clear()
    assert sources_digest(tmp_path / "c") == a


def test_a_caller_cached_by_jit_reloads_only_under_the_same_digest(tmp_path: Path) -> None:
    pytest.importorskip("numba")
    source = tmp_path / "kernel_mod_for_stamp.py"
    source.write_text("def twice(x):\n    return 2 * x\n")
    spec = importlib.util.spec_from_file_location("kernel_mod_for_stamp", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        first = jit()(module.twice)
        assert first(3) == 6
        stamp = first._cache._cache_file._source_stamp
        assert stamp[1] == sources_digest()
        again = jit()(module.twice)  # a new process's dispatcher: loads the cached code
        assert again(3) == 6 and again.stats.cache_hits[again.signatures[0]] == 1
        other = stamp_cache(__import__("numba").njit(cache=True)(module.twice), "f" * 32)
        assert other(3) == 6 and not other.stats.cache_hits  # another digest: compiled afresh
    finally:
        del sys.modules[spec.name]
