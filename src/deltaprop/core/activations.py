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
from typing import Any, ClassVar

import numpy as np

from deltaprop.core import fused as _fused
from deltaprop.core.backend import Backend, get_backend
from deltaprop.core.registry import resolve

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Activation",
    "Exp",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]

Array = Any  # an ndarray of the backend's array module


class Activation:
    """Base class: ``A = g(Z)`` and ``g'(Z)``.

    Parameters
    ----------
    backend : str or Backend, default="numpy"
        The array module the activation computes with.

    Notes
    -----
    Subclasses implement :meth:`forward` and :meth:`derivative`; :meth:`backward` is the
    chain rule ``dZ = dA ⊙ g'(Z)`` for every elementwise activation.
    """

    name: ClassVar[str] = ""

    def __init__(self, backend: str | Backend = "numpy") -> None:
        self.be = get_backend(backend)

    @property
    def xp(self) -> Any:
        """The array module (``numpy``): read through the backend, so objects pickle."""
        return self.be.xp

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        """``A = g(Z)``; ``Z`` has shape ``(m, n)``, so does the result (``out`` if used)."""
        raise NotImplementedError

    def derivative(self, Z: Array, A: Array) -> Array:
        """``g'(Z)``, elementwise, from the cached pre-activation ``Z`` and output ``A``."""
        raise NotImplementedError

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        """``dZ = dA ⊙ g'(Z)``: the gradient with respect to ``Z`` of shape ``(m, n)``."""
        return self.xp.multiply(dA, self.derivative(Z, A), out=out)

    def get_config(self) -> dict[str, Any]:
        """Name and hyper-parameters, enough to rebuild the activation."""
        return {"name": self.name}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({params})"


class Identity(Activation):
    """``g(z) = z``, ``g'(z) = 1``."""

    name = "identity"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return Z

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.xp.ones_like(Z)

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        return dA


class Sigmoid(Activation):
    """``σ(z) = 1 / (1 + e^{-z})``, ``σ'(z) = σ(z)(1 - σ(z))`` (the seeds' table).

    Computed with ``expit``, which never overflows.
    """

    name = "sigmoid"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.be.expit(Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return A * (1.0 - A)


class Tanh(Activation):
    """``tanh(z)``, ``tanh'(z) = 1 - tanh²(z)`` (the seeds' table)."""

    name = "tanh"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return self.xp.tanh(Z, out=out)

    def derivative(self, Z: Array, A: Array) -> Array:
        return 1.0 - A * A


class ReLU(Activation):
    """``max(0, z)``; ``g'(z) = 1`` for ``z > 0`` and ``0`` for ``z ≤ 0`` (the seeds' table)."""

    name = "relu"

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


class LeakyReLU(Activation):
    """``z`` for ``z > 0``, ``α z`` otherwise; ``g'(z) = 1`` or ``α``.

    Parameters
    ----------
    alpha : float, default=0.01
        Slope for negative inputs (PyTorch's ``negative_slope``).
    """

    name = "leaky_relu"

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


class ELU(Activation):
    """``z`` for ``z > 0``, ``α (e^z - 1)`` otherwise; ``g'(z) = 1`` or ``g(z) + α``.

    Parameters
    ----------
    alpha : float, default=1.0
        Saturation value for negative inputs.
    """

    name = "elu"

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


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Activation):
    """Exact GELU ``z Φ(z)`` with ``Φ(z) = (1 + erf(z/√2)) / 2``; ``g'(z) = Φ(z) + z φ(z)``.

    This is PyTorch's default ``nn.GELU()`` (no tanh approximation).
    """

    name = "gelu"

    def _cdf(self, Z: Array) -> Array:
        return 0.5 * (1.0 + self.be.erf(Z * _INV_SQRT2))

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        return Z * self._cdf(Z)

    def derivative(self, Z: Array, A: Array) -> Array:
        return self._cdf(Z) + Z * (_INV_SQRT2PI * self.xp.exp(-0.5 * Z * Z))


class Softplus(Activation):
    """``log(1 + e^z)``, computed as ``max(z, 0) + log1p(e^{-|z|})``; ``g'(z) = σ(z)``."""

    name = "softplus"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        return xp.maximum(Z, 0) + xp.log1p(xp.exp(-xp.abs(Z)))

    def derivative(self, Z: Array, A: Array) -> Array:
        return self.be.expit(Z)


class Exp(Activation):
    """``e^z``, ``g'(z) = e^z``: the log link of Poisson regression.

    ``z`` is clipped above at ``log(finfo.max) - 1`` so that the output stays finite.
    """

    name = "exp"

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        cap = math.log(float(np.finfo(Z.dtype).max)) - 1.0
        return self.xp.exp(self.xp.minimum(Z, cap))

    def derivative(self, Z: Array, A: Array) -> Array:
        return A


class Softmax(Activation):
    """``softmax(z)_k = e^{z_k - max z} / Σ_j e^{z_j - max z}``, row by row.

    Its Jacobian is ``diag(a) - a aᵀ``, so :meth:`backward` is the Jacobian-vector product
    ``dZ = A ⊙ (dA - Σ_k dA_k A_k)`` rather than an elementwise product.
    """

    name = "softmax"

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


ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "gelu": GELU,
    "softplus": Softplus,
    "exp": Exp,
    "softmax": Softmax,
}
"""Registry of activation names. ``"logistic"`` and ``"linear"`` are accepted as aliases."""

_ALIASES = {"logistic": "sigmoid", "linear": "identity"}


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
