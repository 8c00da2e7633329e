"""The functions of :mod:`deltaprop.core.vectormath`, compiled as the activations' kernels
call them, against float64 references: the float64-arithmetic ones round to within 0.5001
ulp of the float64 value on a dense grid (a correctly rounded result is within 0.5); the
float32-arithmetic ones (``tanh32``, ``sigmoid32``) stay within the bounds measured on
every float32 (the module's docstring) on a grid of a few million float32 spread over every
binade, keep NaN, ±0, ±inf and the saturation where the true value rounds to ±1 or 0; all
the loops that call them vectorize."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import pytest
from scipy.special import expit

from deltaprop.core import vectormath

numba = pytest.importorskip("numba")
pytest.importorskip("deltaprop.core.kernels")  # registers vectormath with numba

F32 = (vectormath.tanh32, vectormath.sigmoid32)  # float32 in, float32 arithmetic


def _loop(f: Any) -> Any:
    if f in F32:

        @numba.njit(error_model="numpy")
        def run(z: Any, out: Any) -> None:  # pragma: no cover - compiled
            for i in range(z.size):
                out[i] = f(z[i])

    else:

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


def _bits_grid(hi: float) -> np.ndarray:
    """Every 509th float32 of ``[-hi, hi]`` (a prime stride: every binade, all low bits),
    the float32 next to 0, 1, the thresholds of the two branches and ``hi``."""
    top = int(np.array([hi], np.float32).view(np.uint32)[0])
    pos = np.arange(0, top + 1, 509, dtype=np.uint32).view(np.float32)
    edges = np.array([1e-45, 2.0**-12, 0.5, 1.0, 9.01, 9.5, hi], np.float32)
    near = np.concatenate([np.nextafter(edges, np.float32(0)), edges, np.nextafter(edges, 10)])
    pos = np.concatenate([pos, near, np.linspace(0, hi, 200_001, dtype=np.float32)])
    return np.concatenate([pos, -pos])


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    spacing = np.maximum(spacing, np.float64(np.finfo(np.float32).smallest_subnormal))
    return np.abs(got.astype(np.float64) - want) / spacing


CASES = {
    "exp": (vectormath.exp_f32, np.exp, -110.0, 89.0),
}
S_OVF = 88.72283172607422  # sigmoid32 is 0 below -S_OVF, as NumPy's float32 expit
# name: (function, float64 reference, grid's half-width, bound measured on every float32)
CASES32 = {
    "tanh32": (vectormath.tanh32, np.tanh, 9.1, 1.16),
    "sigmoid32": (vectormath.sigmoid32, expit, S_OVF, 1.49),
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
    err = _ulps(got[small], want[small])
    assert err.max() <= 0.5001, (name, err.max(), z[small][err.argmax()])


@pytest.mark.parametrize("name", list(CASES32))
def test_float32_functions_within_their_bound(name: str) -> None:
    f, ref, hi, bound = CASES32[name]
    z = _bits_grid(hi)
    got = np.empty_like(z)
    _loop(f)(z, got)
    assert got.dtype == np.float32
    err = _ulps(got, ref(z.astype(np.float64)))
    assert err.max() <= bound, (name, err.max(), z[err.argmax()])
    assert err.max() > 0.5  # not correctly rounded: the bound is the measured one, not 0.5


def _f32(f: Any, values: list[float]) -> np.ndarray:
    got = np.empty(len(values), np.float32)
    _loop(f)(np.array(values, np.float32), got)
    return got


def test_tanh32_special_values() -> None:
    got = _f32(vectormath.tanh32, [0.0, -0.0, 1e-45, -1e-45, 9.1, 9.5, 1e4, np.inf, -np.inf])
    np.testing.assert_array_equal(got, np.float32([0, 0, 1e-45, -1e-45, 1, 1, 1, 1, -1]))
    assert np.signbit(got[1]) and not np.signbit(got[0])
    # saturation: 1 from the first float32 whose true tanh rounds to 1, below 1 before it
    z = np.arange(8.95, 9.05, 1e-6, dtype=np.float32)
    np.testing.assert_array_equal(
        _f32(vectormath.tanh32, list(z)) < 1, np.tanh(z.astype(np.float64)).astype(np.float32) < 1
    )
    # odd: tanh32(-x) = -tanh32(x) bit for bit
    z = np.linspace(0, 10, 10_001, dtype=np.float32)
    np.testing.assert_array_equal(
        _f32(vectormath.tanh32, list(-z)), -_f32(vectormath.tanh32, list(z))
    )


def test_sigmoid32_special_values() -> None:
    under = float(np.nextafter(np.float32(-S_OVF), np.float32(-100)))
    got = _f32(vectormath.sigmoid32, [0.0, -0.0, -S_OVF, under, -1e4, 18.0, 1e4, np.inf, -np.inf])
    assert got[0] == got[1] == 0.5
    assert 0 < got[2] < np.finfo(np.float32).tiny  # subnormal, as NumPy's float32 expit
    np.testing.assert_array_equal(got[3:], [0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(got[:4], expit(np.array([0, -0.0, -S_OVF, under], np.float32)))
    z = np.arange(16.5, 17.5, 1e-6, dtype=np.float32)  # 1 exactly where the true value rounds to 1
    want = expit(z.astype(np.float64)).astype(np.float32) < 1
    np.testing.assert_array_equal(_f32(vectormath.sigmoid32, list(z)) < 1, want)


@pytest.mark.parametrize("f", [*F32, *(c[0] for c in CASES.values())], ids=lambda f: f.__name__)
def test_nan_stays_nan(f: Any) -> None:
    got = np.empty(1, np.float32)
    _loop(f)(np.array([np.nan], np.float32), got)
    assert np.isnan(got[0])


def test_plain_python_gives_the_same_values() -> None:
    z = np.array([-7.5, -0.3, 0.0, 0.2, 4.0], np.float32)
    for f in (*F32, vectormath.exp_f32):
        got = np.empty_like(z)
        _loop(f)(z, got)
        if f in F32:
            expected = [f(v) for v in z]  # NumPy float32 scalars: float32 arithmetic
            assert all(type(v) is np.float32 for v in expected)
        else:
            expected = [np.float32(f(float(v))) for v in z]
        np.testing.assert_array_equal(got, expected, err_msg=f.__name__)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 mnemonics")
def test_the_loops_vectorize() -> None:
    z = np.zeros(64, np.float32)
    for f in (*F32, vectormath.exp_f32):
        run = _loop(f)
        run(z, z.copy())
        asm = "".join(run.inspect_asm().values())
        if f in F32:  # packed float32 products and divisions, no float64 arithmetic
            assert "mulps" in asm and "divps" in asm, f.__name__
            assert "mulpd" not in asm and "mulsd" not in asm, f.__name__
        else:
            assert "mulpd" in asm, f.__name__  # packed float64 products (scalar ones: mulsd)
        assert "vfmadd" not in asm, f.__name__  # no fused multiply-add: the same bits anywhere
