"""The float32 GELU of :mod:`deltaprop.core.vectormath_gelu`, compiled as the activation's
kernels call it, against float64 references on a dense grid of float32 values and at the
extremes: ``g`` within 2 ulp of its correctly rounded value, ``g'`` within a few ulp (or a
small absolute error beside its zero at ``z ≈ -0.75``), and the loops vectorize."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import pytest
from scipy.special import erfc

from deltaprop.core.vectormath_gelu import gelu_f32, gelu_grad_f32

numba = pytest.importorskip("numba")
pytest.importorskip("deltaprop.core.kernels")  # registers vectormath_gelu with numba

TINY = 2.0**-149  # float32's smallest subnormal: the spacing below 2^-126


def _loop(f: Any) -> Any:
    @numba.njit(error_model="numpy")
    def run(z: Any, out: Any) -> None:  # pragma: no cover - compiled
        for i in range(z.size):
            out[i] = f(z[i])

    return run


RUN_G, RUN_D = _loop(gelu_f32), _loop(gelu_grad_f32)


def _reference(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(g, g')`` in float64 at the float32 values ``z``."""
    Z = z.astype(np.float64)
    cdf = 0.5 * erfc(-Z / np.sqrt(2.0))
    return Z * cdf, cdf + Z * (np.exp(-0.5 * Z * Z) / np.sqrt(2.0 * np.pi))


def _grid() -> np.ndarray:
    """Where ``g`` is neither ``z`` nor 0: 2M values on [-15, 7], small ones, the pieces'
    borders (|z| = 1/2, 1, 4) and their neighbours, subnormals."""
    rng = np.random.default_rng(0)
    borders = np.array([0.5, 1.0, 4.0, 16.0], np.float32)
    near = np.concatenate([borders, np.nextafter(borders, 0), np.nextafter(borders, 20)])
    tiny = np.array([1e-45, 3e-45, 1e-40, 1.2e-38, 1e-30, 1e-10], np.float32)
    parts = [np.linspace(-15, 7, 2_000_001), rng.normal(0, 1e-3, 20_000), near, -near, tiny, -tiny]
    return np.concatenate(parts).astype(np.float32)


def _ordinal(x: np.ndarray) -> np.ndarray:
    """Float32 values as integers in their order (adjacent floats differ by 1)."""
    i = x.view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``|got - want|`` in units of float32's spacing at ``want`` (float64)."""
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / np.maximum(spacing, TINY)


def test_gelu_is_within_2_ulp_of_its_correctly_rounded_value() -> None:
    z = _grid()
    got = np.empty_like(z)
    RUN_G(z, got)
    want, _ = _reference(z)
    steps = np.abs(_ordinal(got) - _ordinal(want.astype(np.float32)))
    assert steps.max() <= 2, z[steps.argmax()]
    err = _ulps(got, want)
    assert err.max() < 2.1, (err.max(), z[err.argmax()])  # every float32: <= 2.08 (module notes)
    assert np.mean(steps == 0) > 0.8  # mostly the correctly rounded value itself


def test_the_derivative_is_within_a_few_ulp_or_an_absolute_error_beside_its_zero() -> None:
    z = _grid()
    got = np.empty_like(z)
    RUN_D(z, got)
    _, want = _reference(z)
    err = _ulps(got, want)
    apart = np.abs(z + np.float32(0.7518)) > 0.3  # g'(-0.7518) = 0: Φ(z) and z φ(z) cancel
    assert err[apart].max() <= 6, (err[apart].max(), z[apart][err[apart].argmax()])
    # beside the zero: ~2^-24 of the cancelling terms (|z| φ(z) ≈ 0.23 there)
    Z = z.astype(np.float64)
    term = np.abs(Z) * np.exp(-0.5 * Z * Z) / np.sqrt(2.0 * np.pi)
    spacing = np.maximum(np.spacing(np.abs(want).astype(np.float32)).astype(np.float64), TINY)
    assert (np.abs(got - want) <= 3 * (spacing + 2.0**-24 * term)).all()
    assert np.abs(got - want).max() < 1e-7


def test_extremes_zeros_and_nan() -> None:
    z = np.array(
        [1e4, -1e4, 3e38, -3e38, np.inf, -np.inf, 0.0, -0.0, 6.0, -16.5, np.nan], np.float32
    )
    g, d = np.empty_like(z), np.empty_like(z)
    RUN_G(z, g)
    RUN_D(z, d)
    np.testing.assert_array_equal(
        g[:6], np.array([1e4, -0.0, 3e38, -0.0, np.inf, -0.0], np.float32)
    )
    assert np.signbit(g[[1, 3, 5, 7, 9]]).all() and not np.signbit(g[6])  # -0 where z Φ(z) is
    assert g[6] == 0 and g[7] == 0 and g[8] == 6 and g[9] == 0
    np.testing.assert_array_equal(d[:10], [1, 0, 1, 0, 1, 0, 0.5, 0.5, 1, 0])
    assert np.isnan(g[10]) and np.isnan(d[10])


def test_plain_python_gives_the_same_bits() -> None:
    z = np.array([-14.1, -9.3, -4.0, -1.3, -0.75, -0.3, 0.0, 0.2, 0.9, 2.5, 5.0], np.float32)
    for f, run in ((gelu_f32, RUN_G), (gelu_grad_f32, RUN_D)):
        got = np.empty_like(z)
        run(z, got)
        np.testing.assert_array_equal(got, [f(v) for v in z], err_msg=f.__name__)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 mnemonics")
def test_the_loops_vectorize_in_float32() -> None:
    z = np.zeros(64, np.float32)
    for run in (RUN_G, RUN_D):
        run(z, z.copy())
        asm = "".join(run.inspect_asm().values())
        assert "mulps" in asm  # packed float32 products (scalar ones: mulss)
        assert "mulpd" not in asm and "mulsd" not in asm  # no float64 arithmetic
        assert "vfmadd" not in asm  # no fused multiply-add: the same bits anywhere
