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
    COMPILED_IDENTITY,
    COMPILED_RELU,
    COMPILED_SIGMOID,
    COMPILED_TANH,
    Activation,
    Array,
    OnnxGraph,
)
from deltaprop.core.backend import Backend
from deltaprop.core.registry import lookup, resolve

__all__ = [
    "ACTIVATIONS",
    "COMPILED_IDENTITY",
    "COMPILED_RELU",
    "COMPILED_SIGMOID",
    "COMPILED_TANH",
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
    compiled = COMPILED_IDENTITY
    torch_module = "Identity"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return Z

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.xp.ones_like(Z)

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        return dA

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return z


class Sigmoid(Activation):
    """``σ(z) = 1 / (1 + e^{-z})``, ``σ'(z) = σ(z)(1 - σ(z))`` (the seeds' table).

    Computed with ``expit``, which never overflows.
    """

    name = "sigmoid"
    aliases = ("logistic",)
    compiled = COMPILED_SIGMOID
    torch_module = "Sigmoid"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.be.expit(Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return A * (1.0 - A)

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Sigmoid", [z])


class Tanh(Activation):
    """``tanh(z)``, ``tanh'(z) = 1 - tanh²(z)`` (the seeds' table)."""

    name = "tanh"
    compiled = COMPILED_TANH
    torch_module = "Tanh"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.xp.tanh(Z, out=out)

    def derivative(self, Z: Array, A: Array) -> Array:
        return 1.0 - A * A

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Tanh", [z])


class ReLU(Activation):
    """``max(0, z)``; ``g'(z) = 1`` for ``z > 0`` and ``0`` for ``z ≤ 0`` (the seeds' table)."""

    name = "relu"
    compiled = COMPILED_RELU
    torch_module = "ReLU"
    relu_like = True

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
    torch_module = "LeakyReLU"
    relu_like = True

    def __init__(self, alpha: float = 0.01, backend: str | Backend = "numpy") -> None:
        super().__init__(backend)
        if not (isinstance(alpha, int | float) and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.xp.where(Z > 0, Z, self.alpha * Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.xp.where(Z > 0, 1.0, self.alpha).astype(Z.dtype)

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


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Activation):
    """Exact GELU ``z Φ(z)`` with ``Φ(z) = (1 + erf(z/√2)) / 2``; ``g'(z) = Φ(z) + z φ(z)``.

    This is PyTorch's default ``nn.GELU()`` (no tanh approximation).
    """

    name = "gelu"
    torch_module = "GELU"
    relu_like = True

    def _cdf(self, Z: Array) -> Array:
        return 0.5 * (1.0 + self.be.erf(Z * _INV_SQRT2))

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return Z * self._cdf(Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return self._cdf(Z) + Z * (_INV_SQRT2PI * self.xp.exp(-0.5 * Z * Z))

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """``Gelu`` (opset 20, float32); otherwise ``z (1 + erf(z/√2)) / 2``, the ``Erf`` in
        float32 for a float64 graph (ONNX Runtime has no float64 ``Erf``)."""
        if not graph.double and graph.opset >= 20:
            return graph.op("Gelu", [z])
        scaled = graph.op("Mul", [z, graph.const("inv_sqrt2", 1.0 / math.sqrt(2.0))])
        if graph.double:
            from onnx import TensorProto

            as_float = graph.op("Cast", [scaled], to=TensorProto.FLOAT)
            erf = graph.op("Cast", [graph.op("Erf", [as_float])], to=TensorProto.DOUBLE)
        else:
            erf = graph.op("Erf", [scaled])
        half = graph.const("half", 0.5)  # the nodes in the exporter's order (their names)
        cdf = graph.op("Mul", [half, graph.op("Add", [graph.const("one", 1.0), erf])])
        return graph.op("Mul", [z, cdf])


class Softplus(Activation):
    """``log(1 + e^z)``, computed as ``max(z, 0) + log1p(e^{-|z|})``; ``g'(z) = σ(z)``."""

    name = "softplus"
    torch_module = "Softplus"
    relu_like = True

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        return xp.maximum(Z, 0) + xp.log1p(xp.exp(-xp.abs(Z)))

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.be.expit(Z)

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
    torch_module = "Exp"
    hidden = False

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        cap = math.log(float(np.finfo(Z.dtype).max)) - 1.0
        return self.xp.exp(self.xp.minimum(Z, cap))

    def derivative(self, Z: Array, A: Array) -> Array:
        return A

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
    torch_module = "Softmax"
    hidden = False

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        if out is None:
            E = xp.exp(Z - Z.max(axis=1, keepdims=True))
        else:
            kernels = _fused.get(Z.size)
            if kernels is not None and _fused.contiguous(Z, out):
                kernels.softmax(Z, out)  # the three lines below, in one pass
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

    def torch_kwargs(self) -> dict[str, Any]:
        return {"dim": 1}

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        return graph.op("Softmax", [z], axis=1)


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
