"""Activation functions, each with its derivative beside it.

An activation is one object with the forward map ``A = g(Z)`` and its derivative ``g'(Z)``
side by side, so the two can never drift apart. ``backward(dA, Z, A)`` returns
``dZ = dA ⊙ g'(Z)``; softmax, whose Jacobian is not diagonal, overrides it with the exact
Jacobian-vector product. Derivatives reuse the cached ``Z`` and ``A`` of the forward pass.

``forward`` and ``backward`` take an optional ``out``, a preallocated result of the same
shape and dtype (``backward`` may be given ``out=dA`` and then works in place): the
trainer's hot loop passes its buffers so that a step allocates nothing. An activation may
ignore ``out`` and return a new array; callers use the returned array. ReLU and the softmax
then run a compiled kernel (:mod:`deltaprop.core.fused`) where one is loaded.

Each class also declares, side by side with its maps, everything the rest of the package
needs to know about it: its registry ``name`` and ``aliases``, its code in the compiled
training loop (``compiled``, read through :meth:`Activation.compiled_form`), its PyTorch
module (``torch_module``, :meth:`Activation.torch_kwargs`), its ONNX nodes
(:meth:`Activation.onnx_nodes`), whether He initialization suits it (``relu_like``) and
whether it may be a hidden layer's activation (``hidden``). :func:`activation_class` and
:func:`hidden_activation_names` read these declarations.

Every function is numerically stable: no overflow for ``|z|`` up to ``1e4`` in float32 and
float64 (the sigmoid uses ``scipy.special.expit``, softplus ``log1p(exp(-|z|))``, softmax
subtracts the row maximum).

>>> import numpy as np
>>> from deltaprop.core.activations import get_activation
>>> g = get_activation("sigmoid")
>>> Z = np.array([[-1e4, 0.0, 1e4]])
>>> g.forward(Z).tolist()
[[0.0, 0.5, 1.0]]
"""

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
from deltaprop.core.activations_smooth import GELU, Exp, Softmax, Softplus
from deltaprop.core.backend import Backend
from deltaprop.core.registry import lookup, resolve
from deltaprop.core.vectormath import sigmoid32, tanh32

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Activation",
    "Exp",
    "Identity",
    "LeakyReLU",
    "OnnxGraph",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "activation_class",
    "get_activation",
    "hidden_activation_names",
]


class Identity(Activation):
    """``g(z) = z``, ``g'(z) = 1``."""

    name = "identity"
    aliases = ("linear",)
    compiled = 0
    torch_module = "Identity"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return Z

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.xp.ones_like(Z)

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        return dA

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        for i in range(z.size):
            a[i] = z[i]

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        pass  # dZ = dA

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return z


class Sigmoid(Activation):
    """``σ(z) = 1 / (1 + e^{-z})``, ``σ'(z) = σ(z)(1 - σ(z))`` (the seeds' table).

    Computed with ``expit``, which never overflows.
    """

    name = "sigmoid"
    aliases = ("logistic",)
    compiled = 3
    torch_module = "Sigmoid"
    probabilities = True

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.be.expit(Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return A * (1.0 - A)

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        if z.itemsize == 4:  # float32: float32 arithmetic, vectorized (core.vectormath)
            for i in range(z.size):
                a[i] = sigmoid32(z[i])
        else:
            one = z.dtype.type(1)
            for i in range(z.size):
                a[i] = one / (one + np.exp(-z[i]))  # e^{+1e4} = inf gives 0: no error

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        one = d.dtype.type(1)
        for i in range(d.size):
            d[i] = d[i] * (a[i] * (one - a[i]))

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Sigmoid", [z])


class Tanh(Activation):
    """``tanh(z)``, ``tanh'(z) = 1 - tanh²(z)`` (the seeds' table)."""

    name = "tanh"
    compiled = 2
    torch_module = "Tanh"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.xp.tanh(Z, out=out)

    def derivative(self, Z: Array, A: Array) -> Array:
        return 1.0 - A * A

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        if z.itemsize == 4:  # float32: float32 arithmetic, vectorized (core.vectormath)
            for i in range(z.size):
                a[i] = tanh32(z[i])
        else:
            for i in range(z.size):
                a[i] = np.tanh(z[i])

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        one = d.dtype.type(1)
        for i in range(d.size):
            d[i] = d[i] * (one - a[i] * a[i])

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Tanh", [z])


class ReLU(Activation):
    """``max(0, z)``; ``g'(z) = 1`` for ``z > 0`` and ``0`` for ``z ≤ 0`` (the seeds' table)."""

    name = "relu"
    compiled = 1
    torch_module = "ReLU"
    relu_like = True
    kinked = True

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.xp.maximum(Z, 0, out=out)

    def derivative(self, Z: Array, A: Array) -> Array:
        return (Z > 0).astype(Z.dtype)

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        if out is None:
            return self.xp.where(Z > 0, dA, 0).astype(dA.dtype, copy=False)
        kernels = _fused.get(Z.size)
        if kernels is not None and _fused.contiguous(dA, Z, out):
            kernels.relu_backward(dA, Z, out)  # one pass: dA where Z > 0, else 0
        else:
            out[...] = self.xp.where(Z > 0, dA, 0)
        return out

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        zero = z.dtype.type(0)
        for i in range(z.size):
            a[i] = zero if z[i] <= zero else z[i]  # np.maximum(Z, 0): NaN propagates

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        zero = d.dtype.type(0)
        for i in range(d.size):
            d[i] = d[i] if z[i] > zero else zero

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Relu", [z])


class LeakyReLU(Activation):
    """``z`` for ``z > 0``, ``α z`` otherwise; ``g'(z) = 1`` or ``α``.

    Parameters
    ----------
    alpha : float, default=0.01
        Slope for negative inputs (PyTorch's ``negative_slope``).
    """

    name = "leaky_relu"
    compiled = 4
    torch_module = "LeakyReLU"
    relu_like = True
    kinked = True

    def __init__(self, alpha: float = 0.01, backend: str | Backend = "numpy") -> None:
        super().__init__(backend)
        if not (isinstance(alpha, int | float) and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.xp.where(Z > 0, Z, self.alpha * Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.xp.where(Z > 0, 1.0, self.alpha).astype(Z.dtype)

    def compiled_parameter(self, dtype: Any) -> float:
        return self.alpha

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        alpha, zero = z.dtype.type(p), z.dtype.type(0)
        for i in range(z.size):
            a[i] = z[i] if z[i] > zero else alpha * z[i]

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        alpha, zero = d.dtype.type(p), d.dtype.type(0)
        for i in range(d.size):
            d[i] = d[i] if z[i] > zero else d[i] * alpha

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}

    def torch_kwargs(self) -> dict[str, Any]:
        return {"negative_slope": self.alpha}

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """``LeakyRelu``; in float64, where ONNX Runtime has none, ``Where(z > 0, z, α z)``."""
        if not graph.double:
            return graph.op("LeakyRelu", [z], alpha=self.alpha)
        positive = graph.op("Greater", [z, graph.const("zero", 0.0)])
        return graph.op(
            "Where", [positive, z, graph.op("Mul", [z, graph.const("alpha", self.alpha)])]
        )


class ELU(Activation):
    """``z`` for ``z > 0``, ``α (e^z - 1)`` otherwise; ``g'(z) = 1`` or ``g(z) + α``.

    Parameters
    ----------
    alpha : float, default=1.0
        Saturation value for negative inputs.
    """

    name = "elu"
    compiled = 5
    torch_module = "ELU"
    relu_like = True

    def __init__(self, alpha: float = 1.0, backend: str | Backend = "numpy") -> None:
        super().__init__(backend)
        if not (isinstance(alpha, int | float) and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        return xp.where(Z > 0, Z, self.alpha * xp.expm1(xp.minimum(Z, 0)))

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.xp.where(Z > 0, 1.0, A + self.alpha).astype(Z.dtype)

    def compiled_parameter(self, dtype: Any) -> float:
        return self.alpha

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        alpha, zero = z.dtype.type(p), z.dtype.type(0)
        for i in range(z.size):
            v = z[i]
            a[i] = v if v > zero else alpha * np.expm1(min(v, zero))

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        alpha, zero = d.dtype.type(p), d.dtype.type(0)
        for i in range(d.size):
            d[i] = d[i] if z[i] > zero else d[i] * (a[i] + alpha)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}

    def torch_kwargs(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """``Elu``; in float64 ``Where(z > 0, z, α (e^{min(z, 0)} - 1))``."""
        if not graph.double:
            return graph.op("Elu", [z], alpha=self.alpha)
        zero = graph.const("zero", 0.0)
        expm1 = graph.op(
            "Sub", [graph.op("Exp", [graph.op("Min", [z, zero])]), graph.const("one", 1.0)]
        )
        negative = graph.op("Mul", [expm1, graph.const("alpha", self.alpha)])
        return graph.op("Where", [graph.op("Greater", [z, zero]), z, negative])


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, Softplus, Exp, Softmax)
}
"""Registry of activation names; each class's ``aliases`` (``"logistic"``, ``"linear"``)
are accepted too."""

_ALIASES = {alias: cls.name for cls in ACTIVATIONS.values() for alias in cls.aliases}


def activation_class(name: str) -> type[Activation]:
    """The class a registry name or alias names.

    >>> activation_class("logistic").torch_module
    'Sigmoid'

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    return lookup(name, ACTIVATIONS, _ALIASES, "activation function")


def hidden_activation_names() -> tuple[str, ...]:
    """The names and aliases of the activations a hidden layer may use (``hidden``), in
    registry order, each name followed by its aliases.

    >>> hidden_activation_names()[:4]
    ('identity', 'linear', 'sigmoid', 'logistic')
    """
    return tuple(
        key for cls in ACTIVATIONS.values() if cls.hidden for key in (cls.name, *cls.aliases)
    )


def get_activation(
    identifier: str | Activation | dict[str, Any], backend: str | Backend = "numpy"
) -> Activation:
    """Resolve an activation by name, config dict, or instance.

    Parameters
    ----------
    identifier : str, dict or Activation
        A registry name (``"relu"``), a config such as ``{"name": "leaky_relu", "alpha": 0.2}``
        (as returned by :meth:`Activation.get_config`), or an instance (returned unchanged).
    backend : str or Backend, default="numpy"

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    return resolve(
        identifier, ACTIVATIONS, _ALIASES, Activation, "activation function", backend=backend
    )
