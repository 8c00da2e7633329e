"""The smooth and the output activations: GELU, softplus, ``exp`` and softmax, each with its
derivative and its compiled kernels beside it (the rest, and the registry, are in
:mod:`deltaprop.core.activations`, which exports these too)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.core import fused as _fused
from deltaprop.core.activation_base import (
    Activation,
    Array,
    OnnxGraph,
)
from deltaprop.core.vectormath import exp_f32
from deltaprop.core.vectormath_gelu import gelu_f32, gelu_grad_f32

__all__ = ["GELU", "Exp", "Softmax", "Softplus"]


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Activation):
    """Exact GELU ``z Φ(z)`` with ``Φ(z) = erfc(-z/√2) / 2``; ``g'(z) = Φ(z) + z φ(z)``.

    This is PyTorch's default ``nn.GELU()`` (no tanh approximation). ``Φ`` through
    ``erfc`` rather than ``(1 + erf(z/√2)) / 2``, which cancels for ``z < -1`` (``Φ(-5)`` has
    7 correct digits of 16, ``Φ(-9)`` none): ``erfc`` is accurate where ``Φ`` is small.

    On float32 arrays :meth:`forward` and :meth:`derivative` compute in float64 and round
    once; the float32 kernels are :mod:`deltaprop.core.vectormath_gelu`'s (float32
    arithmetic, vectorized): ``g`` within 2 ulp of its correctly rounded value. float64's
    kernels call libm's ``erfc`` and ``exp`` in the operations of :meth:`forward` and
    :meth:`derivative`.
    """

    name = "gelu"
    compiled = 6
    torch_module = "GELU"
    relu_like = True

    def _cdf(self, Z: Array) -> Array:
        return 0.5 * self.be.erfc(Z * -_INV_SQRT2)

    def _wide(self, Z: Array) -> Array:
        """float32 in float64 (rounded once at the end): a float32 ``-z/√2`` would move
        ``Φ``'s tail by up to ~z² ulp (122 at ``z = -7.9``)."""
        return Z.astype(self.xp.float64) if Z.dtype == self.xp.float32 else Z

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        W = self._wide(Z)
        return (W * self._cdf(W)).astype(Z.dtype, copy=False)

    def derivative(self, Z: Array, A: Array) -> Array:
        W = self._wide(Z)
        dW = self._cdf(W) + W * (_INV_SQRT2PI * self.xp.exp(-0.5 * W * W))
        return dW.astype(Z.dtype, copy=False)

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        if z.itemsize == 4:  # float32: vectorized
            for i in range(z.size):
                a[i] = gelu_f32(z[i])
        else:
            t = z.dtype.type
            nc, half = t(-_INV_SQRT2), t(0.5)
            for i in range(z.size):
                v = z[i]
                a[i] = v * (half * math.erfc(v * nc))

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        if d.itemsize == 4:  # float32: vectorized
            for i in range(d.size):
                d[i] = d[i] * gelu_grad_f32(z[i])
        else:
            t = d.dtype.type
            nc, c2, half, nhalf = t(-_INV_SQRT2), t(_INV_SQRT2PI), t(0.5), t(-0.5)
            for i in range(d.size):
                v = z[i]
                cdf = half * math.erfc(v * nc)
                d[i] = d[i] * (cdf + v * (c2 * np.exp(nhalf * v * v)))

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """``Gelu`` (opset 20, float32); before opset 20 ``z (1 + erf(z/√2)) / 2``; float64:
        ``z Φ(z)`` from operators with double kernels (ONNX Runtime has no float64 ``Erf``),
        within 1e-14 of :meth:`forward` (:func:`deltaprop.core.onnx_erfc.normal_cdf_nodes`)."""
        if graph.double:
            from deltaprop.core.onnx_erfc import normal_cdf_nodes

            return graph.op("Mul", [z, normal_cdf_nodes(graph, z)])
        if graph.opset >= 20:
            return graph.op("Gelu", [z])
        scaled = graph.op("Mul", [z, graph.const("inv_sqrt2", 1.0 / math.sqrt(2.0))])
        erf = graph.op("Erf", [scaled])
        half = graph.const("half", 0.5)  # the nodes in the exporter's order (their names)
        cdf = graph.op("Mul", [half, graph.op("Add", [graph.const("one", 1.0), erf])])
        return graph.op("Mul", [z, cdf])


class Softplus(Activation):
    """``log(1 + e^z)``, computed as ``max(z, 0) + log1p(e^{-|z|})``; ``g'(z) = σ(z)``."""

    name = "softplus"
    compiled = 7
    torch_module = "Softplus"
    relu_like = True

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        return xp.maximum(Z, 0) + xp.log1p(xp.exp(-xp.abs(Z)))

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.be.expit(Z)

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        zero = z.dtype.type(0)
        for i in range(z.size):
            v = z[i]
            a[i] = max(v, zero) + np.log1p(np.exp(-abs(v)))

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        one = d.dtype.type(1)
        for i in range(d.size):
            d[i] = d[i] * (one / (one + np.exp(-z[i])))  # the sigmoid's kernel

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """``Softplus``; in float64 ``relu(z) + log(1 + e^{-|z|})``."""
        if not graph.double:
            return graph.op("Softplus", [z])
        tail = graph.op("Exp", [graph.op("Neg", [graph.op("Abs", [z])])])
        log1p = graph.op("Log", [graph.op("Add", [graph.const("one", 1.0), tail])])
        return graph.op("Add", [graph.op("Relu", [z]), log1p])


class Exp(Activation):
    """``e^z``, ``g'(z) = e^z``: the log link of Poisson regression.

    ``z`` is clipped above at ``log(finfo.max) - 1`` so that the output stays finite.
    """

    name = "exp"
    compiled = 8
    torch_module = "Exp"
    hidden = False

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        cap = math.log(float(np.finfo(Z.dtype).max)) - 1.0
        return self.xp.exp(self.xp.minimum(Z, cap))

    def derivative(self, Z: Array, A: Array) -> Array:
        return A

    def compiled_parameter(self, dtype: Any) -> float:
        return math.log(float(np.finfo(dtype).max)) - 1.0  # the cap of forward

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        t = z.dtype.type
        cap = t(p)
        if z.itemsize == 4:  # float32: vectorized (deltaprop.core.vectormath)
            for i in range(z.size):
                a[i] = t(exp_f32(np.float64(min(z[i], cap))))
        else:
            for i in range(z.size):
                a[i] = np.exp(min(z[i], cap))

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        for i in range(d.size):
            d[i] = d[i] * a[i]

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """``Exp(Min(z, cap))``, with the cap of :meth:`forward`."""
        cap = math.log(float(np.finfo(graph.dtype).max)) - 1.0
        return graph.op("Exp", [graph.op("Min", [z, graph.const("exp_cap", cap)])])


class Softmax(Activation):
    """``softmax(z)_k = e^{z_k - max z} / Σ_j e^{z_j - max z}``, row by row.

    Its Jacobian is ``diag(a) - a aᵀ``, so :meth:`backward` is the Jacobian-vector product
    ``dZ = A ⊙ (dA - Σ_k dA_k A_k)`` rather than an elementwise product.
    """

    name = "softmax"
    compiled = 9
    torch_module = "Softmax"
    hidden = False
    probabilities = True

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        if out is None:
            E = xp.exp(Z - Z.max(axis=1, keepdims=True))
        else:
            if _fused.get(Z.size) is not None and _fused.contiguous(Z, out):
                _fused.compiled(Softmax.kernel_rows_forward)(Z, out)  # the lines below, in one pass
                return out
            E = xp.exp(xp.subtract(Z, Z.max(axis=1, keepdims=True), out=out), out=out)
        E /= E.sum(axis=1, keepdims=True)
        return E

    def derivative(self, Z: Array, A: Array) -> Array:
        raise NotImplementedError(
            "softmax has no elementwise derivative; use backward(dA, Z, A), the exact "
            "Jacobian-vector product"
        )

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        return self.xp.multiply(A, dA - (dA * A).sum(axis=1, keepdims=True), out=out)

    @staticmethod
    def kernel_rows_forward(Z: Any, A: Any) -> None:  # pragma: no cover - compiled
        """``A = softmax(Z)`` row by row on 2-D arrays (:meth:`forward`)."""
        m, n = Z.shape
        for i in range(m):
            mx = Z[i, 0]
            for j in range(1, n):
                mx = Z[i, j] if Z[i, j] > mx else mx
            s = Z.dtype.type(0)
            for j in range(n):
                e = np.exp(Z[i, j] - mx)
                A[i, j] = e
                s += e
            for j in range(n):
                A[i, j] /= s

    @staticmethod
    def kernel_rows_backward(dA: Any, A: Any) -> None:  # pragma: no cover - compiled
        """``dA ← A ⊙ (dA - Σ_k dA_k A_k)`` in place, row by row (:meth:`backward`)."""
        m, n = A.shape
        for i in range(m):
            s = A.dtype.type(0)
            for j in range(n):
                s += dA[i, j] * A[i, j]
            for j in range(n):
                dA[i, j] = A[i, j] * (dA[i, j] - s)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"dim": 1}

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Softmax", [z], axis=1)
