"""Each activation's compiled kernels (``kernel_forward``, ``kernel_backward``, written
beside its NumPy form) against that NumPy form: the forward map within 2 ulp, the
derivative's chain rule within a few, at 0, at ±1e4 and beyond, in float32 and float64."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from deltaprop.core.activations import ACTIVATIONS, Activation, get_activation

numba = pytest.importorskip("numba")
pytest.importorskip("deltaprop.core.kernels")  # registers core.vectormath with numba

ELEMENTWISE = [
    n for n, c in ACTIVATIONS.items() if c.compiled_form() is not None and n != "softmax"
]
INSTANCES = [*ELEMENTWISE, {"name": "leaky_relu", "alpha": 0.2}, {"name": "elu", "alpha": 0.5}]


@functools.cache  # one dispatcher a kernel: each new one compiled the kernel again
def _compiled(method: Any) -> Any:
    return numba.njit(cache=False, error_model="numpy")(method)


def _inputs(dtype: Any) -> np.ndarray:
    rng = np.random.default_rng(0)
    extremes = [-1e4, -100.0, -30.0, -1.0, -1e-8, -0.0, 0.0, 1e-8, 1.0, 30.0, 100.0, 1e4]
    return np.concatenate([extremes, rng.normal(0, 3, 500)]).astype(dtype).reshape(1, -1)


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    assert np.isfinite(got).all() and np.isfinite(want).all()
    spacing = np.spacing(np.maximum(np.abs(want), np.finfo(want.dtype).tiny))
    return float(np.max(np.abs(got.astype(np.float64) - want) / spacing))


def test_every_shipped_activation_has_a_compiled_form() -> None:
    assert sorted(ELEMENTWISE) == sorted(set(ACTIVATIONS) - {"softmax"})
    codes = [c.compiled_form() for c in ACTIVATIONS.values()]
    assert len(set(codes)) == len(codes)  # one branch each


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", INSTANCES, ids=str)
def test_kernels_agree_with_the_numpy_form(spec: Any, dtype: Any) -> None:
    g: Activation = get_activation(spec)
    cls, p = type(g), g.compiled_parameter(np.dtype(dtype))
    Z = _inputs(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = g.forward(Z)
        dA = np.random.default_rng(1).normal(size=Z.shape).astype(dtype)
        dZ = g.backward(dA, Z, A)
    a = np.empty_like(Z)
    _compiled(cls.kernel_forward)(Z.ravel(), a.ravel(), p)
    assert a.dtype == dtype
    if cls.name == "gelu" and dtype == np.float64:
        # both forms take erfc of the same u = -z/√2 and differ by the two erfc: SciPy's
        # (cephes) is 1 - erf(u) below u = 1 (~8 ulp at erfc ≈ 0.2) and forms e^{-u²}
        # from a rounded u² above (~u² ulp: 488 ulp at u = 27 against mpmath, where
        # libm's, the kernel's, is within 2 ulp)
        u2 = (Z * (1 / np.sqrt(2.0))) ** 2
        spacing = np.spacing(np.maximum(np.abs(A), np.finfo(dtype).tiny))
        assert (np.abs(a - A) <= (8 + 2 * u2) * spacing).all()
    else:  # (float32 GELU: the NumPy form computes in float64 and rounds once)
        assert _ulps(a, A) <= 2, a - A
    d = dA.copy()
    _compiled(cls.kernel_backward)(d.ravel(), Z.ravel(), A.ravel(), p)
    # within 4 ulp of dZ, or of dA's scale where g' rounds near a cancellation
    bound = 4 * (np.spacing(np.abs(dZ)) + np.spacing(np.abs(dA)))
    assert (np.abs(d - dZ) <= bound).all(), np.abs(d - dZ).max()
    # in place (A may be Z), as the compiled loop's first layer calls it
    inplace = Z.copy()
    _compiled(cls.kernel_forward)(inplace.ravel(), inplace.ravel(), p)
    np.testing.assert_array_equal(inplace, a)


def test_the_ulp_check_can_fail() -> None:
    want = np.array([1.0, 2.0])
    assert _ulps(want + 3 * np.spacing(want), want) == pytest.approx(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_row_kernels_agree_with_the_numpy_form(dtype: Any) -> None:
    g = get_activation("softmax")
    Z = _inputs(dtype)[:, :24].reshape(2, 12) * 10
    A = g.forward(Z)
    dA = np.random.default_rng(2).normal(size=Z.shape).astype(dtype)
    dZ = g.backward(dA, Z, A)
    a = np.empty_like(Z)
    _compiled(type(g).kernel_rows_forward)(Z, a)
    np.testing.assert_allclose(a, A, rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
    d = dA.copy()
    _compiled(type(g).kernel_rows_backward)(d, a)
    np.testing.assert_allclose(
        d,
        dZ,
        rtol=1e-5 if dtype == np.float32 else 1e-13,
        atol=1e-7 if dtype == np.float32 else 1e-15,
    )
