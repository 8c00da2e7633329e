"""Loss functions: the per-example loss ``L(y, ŷ)`` and its gradient ``∂L/∂ŷ``.

The cost is the (weighted) mean over the ``m`` examples (seed 000)::

    J = Σ_i w_i L(y_i, ŷ_i) / Σ_i w_i        (w_i = 1 gives J = (1/m) Σ_i L(y_i, ŷ_i))

Each loss sums over the output units of one example, so that for the three canonical
pairs the output gradient is exactly the seeds' ``dZ[L] = A[L] - Y``:

===========================  ==================  ======================================
loss                         output activation   per-example loss
===========================  ==================  ======================================
binary cross-entropy         sigmoid             ``-Σ_k [y log a + (1-y) log(1-a)]``
categorical cross-entropy    softmax             ``-Σ_k y_k log a_k``
mean squared error           identity            ``½ Σ_k (a_k - y_k)²``
===========================  ==================  ======================================

Only these pairs are fused (``Loss.fused_activation``); any other pairing goes through the
general chain rule ``dZ = g'(Z) ⊙ ∂L/∂A``. With its fused activation a cross-entropy is
computed from the logits ``Z`` (log-sum-exp), never as ``log(0)``.

>>> import numpy as np
>>> from deltaprop.core.losses import get_loss
>>> bce = get_loss("binary_crossentropy")
>>> Y = np.array([[1.0], [0.0]]); Z = np.array([[800.0], [-800.0]])
>>> bce.value_from_logits(Y, Z).tolist()
[0.0, 0.0]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.core import fused as _fused
from deltaprop.core.backend import Backend
from deltaprop.core.loss_base import (
    Array,
    Loss,
)
from deltaprop.core.loss_base import clip_eps as _eps
from deltaprop.core.loss_base import clip_tiny as _tiny
from deltaprop.core.registry import resolve

__all__ = [
    "LOSSES",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "Huber",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Poisson",
    "get_loss",
]


class BinaryCrossEntropy(Loss):
    """The seeds' loss: ``L = -Σ_k [y log a + (1 - y) log(1 - a)]``, ``0 ≤ y ≤ 1``.

    From the logits ``z`` of a sigmoid output it is ``max(z, 0) - z y + log1p(e^{-|z|})``,
    which never takes ``log(0)``. Paired with the sigmoid, ``dZ[L] = A - Y``.
    Summing over ``k`` makes it the multilabel loss as well.
    """

    name = "binary_crossentropy"
    aliases = ("bce", "log_loss")
    compiled = 1
    kernel = 1
    fused_activation = "sigmoid"
    default_activation = "sigmoid"

    def value(self, Y: Array, A: Array) -> Array:
        xp = self.xp
        eps = _eps(A)
        Ac = xp.clip(A, eps, 1.0 - eps)
        return -(Y * xp.log(Ac) + (1.0 - Y) * xp.log1p(-Ac)).sum(axis=1)

    def value_from_logits(self, Y: Array, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        return (xp.maximum(Z, 0) - Z * Y + xp.log1p(xp.exp(-xp.abs(Z)))).sum(axis=1)

    def gradient(self, Y: Array, A: Array) -> Array:
        eps = _eps(A)
        Ac = self.xp.clip(A, eps, 1.0 - eps)
        return (Ac - Y) / (Ac * (1.0 - Ac))

    def kernel_parameter(self, dtype: Any) -> float:
        return float(np.finfo(dtype).eps)

    @staticmethod
    def kernel_from_logits(Z: Any, Y: Any, dZ: Any, losses: Any) -> None:  # pragma: no cover
        t = Z.dtype.type
        zero, one = t(0), t(1)
        for i in range(Z.shape[0]):
            acc = zero
            for j in range(Z.shape[1]):
                z = Z[i, j]
                acc += max(z, zero) - z * Y[i, j] + np.log1p(np.exp(-abs(z)))
                dZ[i, j] = one / (one + np.exp(-z)) - Y[i, j]  # σ(z) - y
            losses[i] = acc

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        t = A.dtype.type
        lo, hi, one = t(p), t(1.0 - p), t(1)
        for i in range(A.shape[0]):
            acc = t(0)
            for k in range(A.shape[1]):
                a, y = A[i, k], Y[i, k]
                a = lo if a < lo else (hi if a > hi else a)  # np.clip: NaN stays
                acc += y * np.log(a) + (one - y) * np.log1p(-a)
                G[i, k] = (a - y) / (a * (one - a))
            losses[i] = -acc

    def check_target(self, Y: Array) -> None:
        if Y.size and (float(Y.min()) < 0.0 or float(Y.max()) > 1.0):
            raise ValueError(
                "binary_crossentropy needs targets in [0, 1]. "
                f"Received: Y with values in [{float(Y.min())}, {float(Y.max())}]"
            )


class CategoricalCrossEntropy(Loss):
    """``L = -Σ_k y_k log a_k`` for one-hot (or probability) rows ``y``.

    From the logits of a softmax output: ``L = Σ_k y_k (logsumexp(z) - z_k)``.
    Paired with the softmax, ``dZ[L] = A - Y`` (rows of ``Y`` summing to one).
    """

    name = "categorical_crossentropy"
    aliases = ("cross_entropy", "crossentropy", "ce")
    compiled = 2
    kernel = 2
    fused_activation = "softmax"
    default_activation = "softmax"

    def value(self, Y: Array, A: Array) -> Array:
        xp = self.xp
        return -(Y * xp.log(xp.maximum(A, _tiny(A)))).sum(axis=1)

    def value_from_logits(self, Y: Array, Z: Array, out: Array | None = None) -> Array:
        xp = self.xp
        if out is not None:
            kernels = _fused.get(Z.size)
            if kernels is not None and _fused.contiguous(Y, Z, out):
                kernels.softmax_xent(Y, Z, out)  # the three lines below, in one pass
                return out
        shifted = Z - Z.max(axis=1, keepdims=True)
        log_norm = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        return (Y * (log_norm - shifted)).sum(axis=1, out=out)  # -Σ y log softmax(z)

    def gradient(self, Y: Array, A: Array) -> Array:
        return -Y / self.xp.maximum(A, _tiny(A))

    def kernel_parameter(self, dtype: Any) -> float:
        return float(np.finfo(dtype).tiny)

    @staticmethod
    def kernel_from_logits(Z: Any, Y: Any, dZ: Any, losses: Any) -> None:  # pragma: no cover
        t = Z.dtype.type
        m, n = Z.shape
        for i in range(m):
            mx = Z[i, 0]
            for j in range(1, n):
                mx = Z[i, j] if Z[i, j] > mx else mx
            s = t(0)
            for j in range(n):
                e = np.exp(Z[i, j] - mx)
                dZ[i, j] = e
                s += e
            log_norm = np.log(s)
            acc = t(0)
            for j in range(n):
                acc += Y[i, j] * (log_norm - (Z[i, j] - mx))
                dZ[i, j] = dZ[i, j] / s - Y[i, j]  # softmax(z) - y
            losses[i] = acc

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        tiny = A.dtype.type(p)
        for i in range(A.shape[0]):
            acc = A.dtype.type(0)
            for k in range(A.shape[1]):
                a = A[i, k]
                a = tiny if a < tiny else a  # np.maximum: NaN stays
                acc += Y[i, k] * np.log(a)
                G[i, k] = -Y[i, k] / a
            losses[i] = -acc

    def check_target(self, Y: Array) -> None:
        if Y.size and float(Y.min()) < 0.0:
            raise ValueError(
                "categorical_crossentropy needs non-negative targets (one-hot rows). "
                f"Received: Y with minimum {float(Y.min())}"
            )


class MeanSquaredError(Loss):
    """``L = ½ Σ_k (a_k - y_k)²``; paired with the identity, ``dZ[L] = A - Y``.

    The ½ is scikit-learn's ``squared_loss`` convention; it makes the gradient ``A - Y``.
    """

    name = "mean_squared_error"
    aliases = ("mse", "squared_error")
    compiled = 0
    kernel = 0
    fused_activation = "identity"

    def value(self, Y: Array, A: Array) -> Array:
        R = A - Y
        return 0.5 * (R * R).sum(axis=1)

    def value_from_logits(self, Y: Array, Z: Array, out: Array | None = None) -> Array:
        return self.value(Y, Z)

    def gradient(self, Y: Array, A: Array) -> Array:
        return A - Y

    @staticmethod
    def kernel_from_logits(Z: Any, Y: Any, dZ: Any, losses: Any) -> None:  # pragma: no cover
        half = Z.dtype.type(0.5)  # the identity: A = Z
        for i in range(Z.shape[0]):
            acc = Z.dtype.type(0)
            for j in range(Z.shape[1]):
                r = Z[i, j] - Y[i, j]
                dZ[i, j] = r
                acc += r * r
            losses[i] = half * acc

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        half = A.dtype.type(0.5)
        for i in range(A.shape[0]):
            acc = A.dtype.type(0)
            for k in range(A.shape[1]):
                r = A[i, k] - Y[i, k]
                acc += r * r
                G[i, k] = r
            losses[i] = half * acc


class MeanAbsoluteError(Loss):
    """``L = Σ_k |a_k - y_k|``; ``∂L/∂a = sign(a - y)`` (0 at ``a = y``)."""

    name = "mean_absolute_error"
    aliases = ("mae", "absolute_error")
    kernel = 3

    def value(self, Y: Array, A: Array) -> Array:
        return self.xp.abs(A - Y).sum(axis=1)

    def gradient(self, Y: Array, A: Array) -> Array:
        return self.xp.sign(A - Y)

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        zero, one = A.dtype.type(0), A.dtype.type(1)
        for i in range(A.shape[0]):
            acc = zero
            for k in range(A.shape[1]):
                r = A[i, k] - Y[i, k]
                acc += abs(r)
                G[i, k] = one if r > zero else (-one if r < zero else r)  # np.sign (0, NaN)
            losses[i] = acc


class Huber(Loss):
    """``L = Σ_k h(a_k - y_k)`` with ``h(r) = ½ r²`` for ``|r| ≤ δ``, else ``δ (|r| - ½ δ)``.

    Parameters
    ----------
    delta : float, default=1.0
        Where the loss turns from quadratic to linear (PyTorch's ``HuberLoss(delta)``).
    """

    name = "huber"
    kernel = 4

    def __init__(self, delta: float = 1.0, backend: str | Backend = "numpy") -> None:
        super().__init__(backend)
        if not (isinstance(delta, int | float) and math.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be a positive finite number. Received: delta={delta!r}")
        self.delta = float(delta)

    def value(self, Y: Array, A: Array) -> Array:
        xp = self.xp
        R = xp.abs(A - Y)
        d = self.delta
        return xp.where(R <= d, 0.5 * R * R, d * (R - 0.5 * d)).sum(axis=1)

    def gradient(self, Y: Array, A: Array) -> Array:
        R = A - Y
        return self.xp.clip(R, -self.delta, self.delta)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "delta": self.delta}

    def kernel_parameter(self, dtype: Any) -> float:
        return self.delta

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        t = A.dtype.type
        d, half_d, half = t(p), t(0.5 * p), t(0.5)
        for i in range(A.shape[0]):
            acc = t(0)
            for k in range(A.shape[1]):
                r = A[i, k] - Y[i, k]
                a = abs(r)
                acc += half * a * a if a <= d else d * (a - half_d)
                G[i, k] = -d if r < -d else (d if r > d else r)  # np.clip: NaN stays
            losses[i] = acc


class Poisson(Loss):
    """Half the Poisson deviance: ``L = Σ_k [y log(y/a) - y + a]``, ``y ≥ 0``, ``a > 0``.

    ``∂L/∂a = 1 - y/a``. Its natural output is the ``exp`` link (scikit-learn's choice), which
    goes through the general chain rule: ``dZ = e^Z ⊙ (1 - Y/A) = A - Y``.
    """

    name = "poisson"
    kernel = 5
    default_activation = "exp"

    def value(self, Y: Array, A: Array) -> Array:
        xp = self.xp
        Ac = xp.maximum(A, _tiny(A))
        Ypos = xp.where(Y > 0, Y, 1.0)
        return (Y * xp.log(Ypos / Ac) - Y + Ac).sum(axis=1)

    def gradient(self, Y: Array, A: Array) -> Array:
        return 1.0 - Y / self.xp.maximum(A, _tiny(A))

    def kernel_parameter(self, dtype: Any) -> float:
        return float(np.finfo(dtype).tiny)

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        tiny, zero, one = A.dtype.type(p), A.dtype.type(0), A.dtype.type(1)
        for i in range(A.shape[0]):
            acc = zero
            for k in range(A.shape[1]):
                a, y = A[i, k], Y[i, k]
                a = tiny if a < tiny else a  # np.maximum: NaN stays
                acc += y * np.log((y if y > zero else one) / a) - y + a
                G[i, k] = one - y / a
            losses[i] = acc

    def check_target(self, Y: Array) -> None:
        if Y.size and float(Y.min()) < 0.0:
            raise ValueError(
                f"poisson needs non-negative targets. Received: Y with minimum {float(Y.min())}"
            )


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls
    for cls in (
        BinaryCrossEntropy, CategoricalCrossEntropy, MeanSquaredError, MeanAbsoluteError,
        Huber, Poisson,
    )
}  # fmt: skip
"""Registry of loss names; each class's ``aliases`` (the short and scikit-learn spellings)
are accepted too."""

_ALIASES = {alias: cls.name for cls in LOSSES.values() for alias in cls.aliases}


def get_loss(identifier: str | Loss | dict[str, Any], backend: str | Backend = "numpy") -> Loss:
    """Resolve a loss by name, config dict, or instance.

    Parameters
    ----------
    identifier : str, dict or Loss
        A registry name or alias (``"bce"``, ``"squared_error"``), a config such as
        ``{"name": "huber", "delta": 0.5}``, or an instance (returned unchanged).
    backend : str or Backend, default="numpy"

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    return resolve(identifier, LOSSES, _ALIASES, Loss, "loss", backend=backend)
