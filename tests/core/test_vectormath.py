"""The float32 functions of :mod:`deltaprop.core.vectormath`, compiled as the activations'
kernels call them, against float64 references on a dense grid of float32 values: each
rounds to within 0.5001 ulp of the float64 value (a correctly rounded result is within
0.5), and the loops that call them vectorize."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import pytest
from scipy.special import erfc

from deltaprop.core import vectormath

numba = pytest.importorskip("numba")
pytest.importorskip("deltaprop.core.kernels")  # registers vectormath with numba


def _loop(f: Any) -> Any:
    @numba.njit(error_model="numpy")
    def run(z: Any, out: Any) -> None:  # pragma: no cover - compiled
        for i in range(z.size):
            out[i] = np.float32(f(np.float64(z[i])))

    return run


def _grid(lo: float, hi: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-45, -1e-45, 1e4, -1e4, 3e38, -3e38, lo, hi]
    small = rng.normal(0, 1e-3, 20_000)
    return np.concatenate([np.linspace(lo, hi, 400_001), small, special]).astype(np.float32)


@numba.njit(error_model="numpy")
def _erfc_factor(u: float) -> float:  # pragma: no cover - compiled
    return vectormath.erfc_exp_f32(u)[1]


CASES = {
    "tanh": (vectormath.tanh_f32, np.tanh, -12.0, 12.0),
    "exp": (vectormath.exp_f32, np.exp, -110.0, 89.0),
    "erfc": (vectormath.erfc_f32, erfc, -5.0, 10.5),
    "erfc's factor": (_erfc_factor, lambda u: np.exp(-u * u), -10.0, 10.0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_within_half_an_ulp_of_the_float64_value(name: str) -> None:
    f, ref, lo, hi = CASES[name]
    z = _grid(lo, hi)
    got = np.empty_like(z)
    _loop(f)(z, got)
    with np.errstate(over="ignore"):
        want = ref(z.astype(np.float64))
    small = np.abs(want) <= float(np.finfo(np.float32).max)
    np.testing.assert_array_equal(np.isinf(got), ~small)  # overflows exactly where float32's
    spacing = np.spacing(np.abs(want[small]).astype(np.float32)).astype(np.float64)
    spacing = np.maximum(spacing, np.float64(np.finfo(np.float32).smallest_subnormal))
    err = np.abs(got[small].astype(np.float64) - want[small]) / spacing
    assert err.max() <= 0.5001, (name, err.max(), z[small][err.argmax()])


@pytest.mark.parametrize("name", list(CASES))
def test_nan_stays_nan(name: str) -> None:
    got = np.empty(1, np.float32)
    _loop(CASES[name][0])(np.array([np.nan], np.float32), got)
    assert np.isnan(got[0])


def test_plain_python_gives_the_same_values() -> None:
    z = np.array([-7.5, -0.3, 0.0, 0.2, 4.0], np.float32)
    for name, (f, _, _, _) in CASES.items():
        got = np.empty_like(z)
        _loop(f)(z, got)
        expected = [np.float32(f(float(v))) for v in z]
        np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 mnemonics")
def test_the_loops_vectorize() -> None:
    z = np.zeros(64, np.float32)
    for f in (vectormath.tanh_f32, vectormath.exp_f32, vectormath.erfc_f32):
        run = _loop(f)
        run(z, z.copy())
        asm = "".join(run.inspect_asm().values())
        assert "mulpd" in asm, f.__name__  # packed float64 products (scalar ones: mulsd)
        assert "vfmadd" not in asm, f.__name__  # no fused multiply-add: the same bits anywhere
