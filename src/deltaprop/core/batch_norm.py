"""Batch normalization of a layer's pre-activations (``BatchNorm``, between ``Z`` and ``g``
of a :class:`~deltaprop.core.layers.Dense`), in NumPy and as the compiled loop's kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core.layer_base import Array, Layer

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Batch normalization of a layer's pre-activations (Ioffe & Szegedy, 2015).

    ``Ẑ = γ (Z - μ) / √(σ² + ε) + β`` with the batch mean and biased variance in training, and
    the running statistics in evaluation, exactly as PyTorch's ``nn.BatchNorm1d``
    (``momentum`` 0.1, running variance updated with the unbiased batch variance).

    Parameters
    ----------
    n : int
        Number of units.
    momentum : float, default=0.1
    epsilon : float, default=1e-5
    """

    def __init__(self, n: int, momentum: float = 0.1, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.n = n
        self.momentum = momentum
        self.epsilon = epsilon
        self.param_shapes = [("gamma", (n,)), ("beta", (n,))]
        self.running_mean: Array = None
        self.running_var: Array = None

    def __repr__(self) -> str:
        return f"BatchNorm({self.n})"

    def init_buffers(self, xp: Any, dtype: Any) -> None:
        """Set ``γ = 1``, ``β = 0`` and the running statistics to ``(0, 1)``."""
        self.params["gamma"][...] = 1
        self.params["beta"][...] = 0
        self.running_mean = xp.zeros(self.n, dtype=dtype)
        self.running_var = xp.ones(self.n, dtype=dtype)

    def forward(self, Z: Array, training: bool) -> Array:
        """``Ẑ γ + β`` of ``Z`` (m, n): batch statistics in ``training``, which needs
        ``m > 1`` (PyTorch's rule: one row's variance is 0 and ``Ẑ`` all zeros), else the
        running ones.

        Raises
        ------
        ValueError
            In training, for a batch of 1 row.
        """
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            m = Z.shape[0]
            if m == 1:
                raise ValueError(
                    "batch norm needs more than 1 row per batch in training (as "
                    f"torch.nn.BatchNorm1d): got a batch of 1 row at {self!r}, the batch norm "
                    f"of a layer of {self.n} units (one row's variance is 0, so its normalized "
                    "values would all be 0); train on batches of 2 rows or more"
                )
            mu = Z.mean(axis=0)
            Zc = Z - mu
            var = (Zc * Zc).mean(axis=0)
            unbiased = var * (m / (m - 1))
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * mu
            self.running_var *= 1 - self.momentum
            self.running_var += self.momentum * unbiased
        else:
            Zc = Z - self.running_mean
            var = self.running_var
        self.inv_std = 1.0 / (var + self.epsilon) ** 0.5
        self.Z_hat = Zc * self.inv_std
        self.training = training
        return self.Z_hat * gamma + beta

    def evaluate(self, Z: Array) -> Array:
        """:meth:`forward` in evaluation mode (the running statistics), caching nothing.

        The same operations in the same order, so the same bits for the same ``Z``.
        """
        inv_std = 1.0 / (self.running_var + self.epsilon) ** 0.5
        return ((Z - self.running_mean) * inv_std) * self.params["gamma"] + self.params["beta"]

    def backward(self, dOut: Array) -> Array:
        """Gradients of ``γ``, ``β`` (with the ``1/m`` of ``db``) and the input error.

        In training the batch statistics depend on every example, so::

            dZ = γ/√(σ²+ε) · (dOut - mean(dOut) - Ẑ · mean(dOut ⊙ Ẑ))
        """
        m = dOut.shape[0]
        gamma = self.params["gamma"]
        self.grads["gamma"][...] = (dOut * self.Z_hat).sum(axis=0) / m
        self.grads["beta"][...] = dOut.sum(axis=0) / m
        if not self.training:
            return dOut * (gamma * self.inv_std)
        mean_d = dOut.mean(axis=0)
        mean_dz = (dOut * self.Z_hat).mean(axis=0)
        return (gamma * self.inv_std) * (dOut - mean_d - self.Z_hat * mean_dz)

    # The compiled loop's form (numba), in pieces: a batch cut into blocks of rows takes its
    # statistics from the blocks' (deltaprop.fast.layered says in which order); one block
    # gives the NumPy form's operations in its order (column sums row after row).
    @staticmethod
    def kernel_center(Z: Any, s_sum: Any, mu: Any, s: Any) -> None:  # pragma: no cover
        """``Z`` (m, n) with column sums ``s_sum``: its mean ``mu``, ``s = Σ_i (Z[i] - mu)²``."""
        m, n = Z.shape
        for j in range(n):
            mu[j] = s_sum[j] / Z.dtype.type(m)
            h = Z[0, j] - mu[j]
            s[j] = h * h
        for i in range(1, m):
            for j in range(n):
                h = Z[i, j] - mu[j]
                s[j] += h * h

    @staticmethod
    def kernel_add_block(
        mu_b: Any, s_b: Any, m_b: int, mu: Any, var: Any
    ) -> None:  # pragma: no cover
        """``var += s_b + m_b (μ_b - μ)²``: a block of ``m_b`` rows (its ``mu_b``, ``s_b`` of
        :meth:`kernel_center`) into the batch's ``Σ (Z - μ)²`` (Chan et al.; one block: ``s_b``)."""
        t = var.dtype.type(m_b)
        for j in range(var.size):
            d = mu_b[j] - mu[j]
            var[j] += s_b[j] + t * d * d

    @staticmethod
    def kernel_statistics(var: Any, mu: Any, m: int, inv: Any, running_mean: Any,
                          running_var: Any, momentum: float, epsilon: float,
                          update: bool) -> None:  # pragma: no cover  # fmt: skip
        """``var`` (n,): ``Σ (Z - μ)²`` over ``m`` rows, becomes ``σ²``; ``inv = 1/√(σ² + ε)``;
        (``update``) the running statistics move towards ``μ`` and the unbiased variance."""
        t = var.dtype.type
        keep, mom, ratio, eps = t(1 - momentum), t(momentum), t(m / max(m - 1, 1)), t(epsilon)
        for j in range(var.size):
            var[j] = var[j] / t(m)
            if update:
                unbiased = var[j] * ratio if m > 1 else var[j]
                running_mean[j] = running_mean[j] * keep + mom * mu[j]
                running_var[j] = running_var[j] * keep + mom * unbiased
            inv[j] = t(1.0) / np.sqrt(var[j] + eps)

    @staticmethod
    def kernel_normalize(Z: Any, mu: Any, inv: Any, P: Any, H: Any) -> None:  # pragma: no cover
        """``H = (Z - μ) / √(σ² + ε)`` (``Ẑ``) and ``Z ← γ Ẑ + β`` (``P`` (2, n): ``γ``, ``β``)."""
        m, n = Z.shape
        gamma, beta = P[0], P[1]
        for i in range(m):
            z, h = Z[i], H[i]
            for j in range(n):
                h[j] = (z[j] - mu[j]) * inv[j]
                z[j] = h[j] * gamma[j] + beta[j]

    @staticmethod
    def kernel_backward_sums(dOut: Any, H: Any, s_gamma: Any,
                             s_beta: Any) -> None:  # pragma: no cover  # fmt: skip
        """``s_gamma = Σ_i dOut[i] ⊙ Ẑ[i]``, ``s_beta = Σ_i dOut[i]`` (row after row) over
        the rows of ``dOut`` (m, n): summed over the batch, ``dγ`` and ``dβ`` without ``1/m``
        (the compiled loop's output error carries it)."""
        m, n = dOut.shape
        for j in range(n):
            s_gamma[j] = dOut[0, j] * H[0, j]
            s_beta[j] = dOut[0, j]
        for i in range(1, m):
            for j in range(n):
                s_gamma[j] += dOut[i, j] * H[i, j]
                s_beta[j] += dOut[i, j]

    @staticmethod
    def kernel_backward_apply(dOut: Any, H: Any, inv: Any, P: Any, mean_d: Any, mean_dz: Any,
                              db: Any) -> None:  # pragma: no cover  # fmt: skip
        """:meth:`backward` in training, in place: ``dOut`` becomes the input error, from the
        batch's ``mean(dOut)`` and ``mean(dOut ⊙ Ẑ)`` (each the sums of
        :meth:`kernel_backward_sums` over ``m``); ``db`` (n,) takes its column sums (row
        after row: the gradient of the layer's bias, in the same pass)."""
        m, n = dOut.shape
        c = np.empty(n, dOut.dtype)  # γ/√(σ²+ε)
        for j in range(n):
            c[j] = P[0, j] * inv[j]
        for i in range(m):
            d, h = dOut[i], H[i]
            for j in range(n):
                v = c[j] * (d[j] - mean_d[j] - h[j] * mean_dz[j])
                d[j] = v
                db[j] = db[j] + v if i > 0 else v
