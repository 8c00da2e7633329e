"""Each loss's compiled kernel (``kernel_value_gradient``, written beside its NumPy
``value`` and ``gradient``) against that NumPy form, in float32 and float64, at ordinary
values and at the clips (``A`` at 0 and 1, ``Y`` at 0, residuals of ±1e4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deltaprop.core.losses import LOSSES, get_loss

numba = pytest.importorskip("numba")

SPECS = [*LOSSES, {"name": "huber", "delta": 0.3}]


def _data(name: str, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if name in ("binary_crossentropy", "categorical_crossentropy", "poisson"):
        A = rng.uniform(0, 1, (40, 5))
        A[0] = [0.0, 1.0, 1e-30, 1 - 1e-12, 0.5]  # the clips
        Y = rng.uniform(0, 1, (40, 5))
        Y[1] = 0.0
        if name == "poisson":
            A, Y = A * 50, np.round(Y * 20)
    else:
        A, Y = rng.normal(0, 3, (40, 5)), rng.normal(0, 3, (40, 5))
        A[0] = [1e4, -1e4, 0.0, 0.3, -0.3]
        Y[0] = [0.0, 0.0, 0.0, 0.0, 0.0]  # residuals ±1e4, 0, at δ = 0.3
    return A.astype(dtype), Y.astype(dtype)


def test_every_shipped_loss_has_a_kernel() -> None:
    codes = [cls.kernel_form() for cls in LOSSES.values()]
    assert None not in codes and len(set(codes)) == len(codes)
    fused = [c for c in (cls.compiled_form() for cls in LOSSES.values()) if c is not None]
    assert len(fused) == 3 and len(set(fused)) == len(fused)  # one branch each


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_kernel_agrees_with_value_and_gradient(spec: Any, dtype: Any) -> None:
    loss = get_loss(spec)
    A, Y = _data(loss.name, dtype)
    with np.errstate(divide="ignore", invalid="raise", over="ignore"):  # y / tiny: inf
        value, gradient = loss.value(Y, A), loss.gradient(Y, A)
    G, losses = np.full_like(A, np.nan), np.full(A.shape[0], np.nan, dtype)
    kernel = numba.njit(cache=False, error_model="numpy")(type(loss).kernel_value_gradient)
    kernel(Y, A, G, losses, loss.kernel_parameter(np.dtype(dtype)))
    assert G.dtype == losses.dtype == dtype
    eps = np.finfo(dtype).eps
    # the gradient entry by entry in NumPy's operations: within an ulp
    np.testing.assert_allclose(G, gradient, rtol=eps, atol=0)
    # the row sums in another order (NumPy's pairwise); within a few ulp of the row's scale
    finite = np.isfinite(value)
    np.testing.assert_array_equal(losses[~finite], value[~finite])
    scale = np.abs(value[finite]) + 1
    error = np.abs(losses[finite] - value[finite])
    assert (error <= 8 * eps * scale).all(), error.max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["mse", "bce", "ce"])
def test_fused_kernel_agrees_with_value_from_logits(name: str, dtype: Any) -> None:
    from deltaprop.core.activations import get_activation

    loss = get_loss(name)
    rng = np.random.default_rng(3)
    Z = (rng.normal(0, 4, (30, 4)) * np.array([1, 10, 100, 1000])).astype(dtype)
    Z[0] = [1e4, -1e4, 0.0, 800.0]
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 30)]
    assert type(loss).fused_activation is not None
    A = get_activation(type(loss).fused_activation).forward(Z)
    dZ, losses = np.full_like(Z, np.nan), np.full(30, np.nan, dtype)
    numba.njit(cache=False, error_model="numpy")(type(loss).kernel_from_logits)(Z, Y, dZ, losses)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(dZ, A - Y, rtol=4 * eps, atol=4 * eps)
    value = loss.value_from_logits(Y, Z)
    assert (np.abs(losses - value) <= 8 * eps * (np.abs(value) + 1)).all()
