"""Layers: ``Dense`` (the seeds' layer) and ``Dropout``; ``BatchNorm`` lives in
:mod:`deltaprop.core.batch_norm` and ``Layer``, their base, in :mod:`deltaprop.core.layer_base`
(both importable from here too).

Arrays are row-major: a batch ``X`` has shape ``(m, n_0)``, one example per row, and the
activations of layer ``l`` have shape ``(m, n_l)``. The seeds write examples as columns
(``Z = W A + b`` with ``A`` of shape ``(n, m)``); here every seed equation is its transpose,
with the same ``W[l]`` of shape ``(n_l, n_{l-1})`` (PyTorch's ``nn.Linear.weight`` layout)::

    Z[l]  = A[l-1] W[l]ᵀ + b[l]              (seed: z = W a + b)
    A[l]  = g(Z[l])
    dZ[l] = dA[l] ⊙ g'(Z[l])                 (seed: dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g'(Z[l]))
    dW[l] = dZ[l]ᵀ A[l-1] / m                (seed: dW = dZ A_prevᵀ / m)
    db[l] = Σ_i dZ[l] / m                    (seed: db = Σ dZ / m)
    dA[l-1] = dZ[l] W[l]                     (the W[l]ᵀ dZ[l] that feeds dZ[l-1])

``dZ`` is the per-example error of the seeds (not yet divided by ``m``); the ``1/m`` enters
in ``dW`` and ``db`` only. A layer's parameters are views into the network's one flat
buffer; :meth:`Layer.bind` hands them over. Backward never recomputes ``W a + b``: it uses
the ``A_prev``, ``Z`` and ``A`` cached by the forward pass.

Given :class:`DenseBuffers` (the trainer's hot loop), a ``Dense`` layer writes ``Z``, ``A``
and ``dA_prev`` into them instead of allocating, and its activation's derivative works in
place on ``dA``: the same equations, the same numbers, no allocation per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import issparse

from deltaprop.core import fused as _fused
from deltaprop.core.activations import Activation
from deltaprop.core.batch_norm import BatchNorm
from deltaprop.core.layer_base import Array, Layer

__all__ = ["KEY_HIGH", "BatchNorm", "Dense", "DenseBuffers", "Dropout", "Layer", "dropout_uniforms"]


@dataclass
class DenseBuffers:
    """Preallocated arrays of one :class:`Dense` layer for batches of ``m`` rows.

    Attributes
    ----------
    Z, A : ndarray of shape (m, n_l)
        The pre-activation and the activation.
    dA_prev : ndarray of shape (m, n_{l-1}) or None
        The error passed back, ``dZ W``; ``None`` for the first layer, which needs none.
    """

    Z: Array
    A: Array
    dA_prev: Array | None

    @classmethod
    def allocate(cls, layer: Dense, m: int, xp: Any, dtype: Any) -> DenseBuffers:
        """Buffers for ``layer`` and batches of ``m`` rows."""
        dA_prev = xp.empty((m, layer.n_in), dtype) if layer.needs_input_grad else None
        return cls(xp.empty((m, layer.n_out), dtype), xp.empty((m, layer.n_out), dtype), dA_prev)


class Dense(Layer):
    """The seeds' layer: ``Z = A_prev Wᵀ + b``, ``A = g(Z)``.

    Parameters
    ----------
    n_in, n_out : int
        ``n_{l-1}`` and ``n_l``; ``W`` has shape ``(n_out, n_in)``, ``b`` has ``n_out`` entries.
    activation : Activation
        ``g`` with its derivative.
    batch_norm : BatchNorm or None
        Optional normalization between ``Z`` and ``g``.
    """

    def __init__(
        self, n_in: int, n_out: int, activation: Activation, batch_norm: BatchNorm | None = None
    ) -> None:
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.activation = activation
        self.batch_norm = batch_norm
        self.param_shapes = [("W", (n_out, n_in)), ("b", (n_out,))]
        if batch_norm is not None:
            self.param_shapes += batch_norm.param_shapes
        self.needs_input_grad = True
        self.l2 = 0.0
        # Whether the activation can write into a buffer (a user's subclass may not).
        self._act_out = _fused.accepts_out(activation.forward, activation.backward)

    def bind(self, params: Array, grads: Array) -> None:
        size = self.n_out * (self.n_in + 1)
        super().bind(params, grads)
        self._grad_Wb = grads[:size]  # dW then db, adjacent in the flat buffer
        if self.batch_norm is not None:
            self.batch_norm.bind(params[size:], grads[size:])
            for name in ("gamma", "beta"):
                self.params.pop(name)
                self.grads.pop(name)

    @property
    def W(self) -> Array:
        """``W[l]``, shape ``(n_l, n_{l-1})``: a view into the flat parameter buffer."""
        return self.params["W"]

    @property
    def b(self) -> Array:
        """``b[l]``, shape ``(n_l,)``: a view into the flat parameter buffer."""
        return self.params["b"]

    def forward(self, A_prev: Array, training: bool, buffers: DenseBuffers | None = None) -> Array:
        """``Z = A_prev Wᵀ + b`` then ``A = g(Z)``; caches ``A_prev``, ``Z``, ``A``.

        Parameters
        ----------
        A_prev : ndarray of shape (m, n_{l-1})
        training : bool
            Batch statistics (training) or running statistics (evaluation) for batch norm.
        buffers : DenseBuffers, optional
            Where to write ``Z`` and ``A`` (then the returned ``A`` is ``buffers.A``, or
            ``buffers.Z`` for the identity).

        Returns
        -------
        A : ndarray of shape (m, n_l)
        """
        xp = self.activation.xp
        if issparse(A_prev):  # a sparse input batch (first layer): SciPy's product
            Z = np.asarray(A_prev @ self.W.T)
            if buffers is not None:
                buffers.Z[...] = Z
                Z = buffers.Z
        else:
            Z = xp.dot(A_prev, self.W.T, out=None if buffers is None else buffers.Z)
        kernels = None if buffers is None else _fused.get(Z.size)
        if kernels is not None and _fused.contiguous(Z, self.b):
            kernels.add_bias(Z, self.b)  # Z += b, without NumPy's broadcast buffer
        else:
            Z += self.b
        self.A_prev = A_prev
        self.Z_linear = Z
        if self.batch_norm is not None:
            Z = self.batch_norm.forward(Z, training)
        self.Z = Z
        if buffers is not None and self._act_out:
            self.A = self.activation.forward(Z, out=buffers.A)
        else:
            self.A = self.activation.forward(Z)
        return self.A

    def evaluate(self, A_prev: Array, logits: bool = False) -> Array:
        """:meth:`forward` in evaluation mode, caching nothing (prediction).

        The same operations in the same order as :meth:`forward` without buffers, so the
        same bits for the same ``A_prev``; nothing is kept on the layer.

        Parameters
        ----------
        A_prev : ndarray or CSR matrix of shape (m, n_{l-1})
        logits : bool, default=False
            Return ``Z`` (after batch norm) instead of ``A = g(Z)``.

        Returns
        -------
        ndarray of shape (m, n_l)
        """
        if issparse(A_prev):
            Z = np.asarray(A_prev @ self.W.T)
        else:
            Z = self.activation.xp.dot(A_prev, self.W.T)
        Z += self.b
        if self.batch_norm is not None:
            Z = self.batch_norm.evaluate(Z)
        return Z if logits else self.activation.forward(Z)

    def backward(self, dA: Array, buffers: DenseBuffers | None = None) -> Array | None:
        """``dZ = dA ⊙ g'(Z)`` (through :meth:`Activation.backward`), then :meth:`backward_dZ`.

        With ``dA = W[l+1]ᵀ dZ[l+1]`` from the layer above (its :meth:`backward_dZ`), this is
        the seeds' ``dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g'(Z[l])``.

        With ``buffers``, ``dA`` is a scratch array of the caller's and ``dZ`` overwrites it.
        """
        if buffers is not None and self._act_out:
            dZ = self.activation.backward(dA, self.Z, self.A, out=dA)
        else:
            dZ = self.activation.backward(dA, self.Z, self.A)
        return self.backward_dZ(dZ, buffers)

    def backward_dZ(self, dZ: Array, buffers: DenseBuffers | None = None) -> Array | None:
        """From this layer's error ``dZ`` (shape ``(m, n_l)``), fill ``dW``, ``db``.

        ``dW = dZᵀ A_prev / m (+ l2 W)``, ``db = Σ_i dZ / m``; returns ``dA_prev = dZ W``
        (the seeds' ``W[l]ᵀ dZ[l]``), or ``None`` for the first layer, which needs none.
        With ``buffers``, ``dA_prev`` is written into ``buffers.dA_prev``.
        """
        if self.batch_norm is not None:
            dZ = self.batch_norm.backward(dZ)
        m = dZ.shape[0]
        xp = self.activation.xp
        dW, db = self.grads["W"], self.grads["b"]
        if issparse(self.A_prev):  # dW = dZᵀ A_prev computed as (A_prevᵀ dZ)ᵀ by SciPy
            dW[...] = (self.A_prev.T @ dZ).T
        else:
            xp.dot(dZ.T, self.A_prev, out=dW)  # dot, not matmul: 6x faster at m = 1
        dZ.sum(axis=0, out=db)
        self._grad_Wb *= 1.0 / m  # dW and db are adjacent: one pass divides both by m
        if self.l2:
            dW += self.l2 * self.W
        if not self.needs_input_grad:
            return None
        return xp.dot(dZ, self.W, out=None if buffers is None else buffers.dA_prev)


_GOLDEN, _MIX_1, _MIX_2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
"""splitmix64's constants (Steele, Lea and Flood 2014)."""

KEY_HIGH = int(np.iinfo(np.int64).max)
"""A dropout key is drawn from ``[0, KEY_HIGH)`` (:meth:`Dropout.draw_key`)."""


def dropout_uniforms(key: int, shape: tuple[int, int]) -> np.ndarray:
    """The uniforms in ``[0, 1)`` of a dropout mask of shape ``(m, n)``: entry ``(i, j)``
    is the ``(i n + j + 1)``-th output of splitmix64 from ``key``, a function of the key
    and the position only (no generator state: any thread computes any entry,
    :meth:`Dropout.kernel_uniform`)."""
    z = np.arange(1, shape[0] * shape[1] + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
    z += np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX_1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX_2)
    z ^= z >> np.uint64(31)
    return ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53).reshape(shape)


class Dropout(Layer):
    """Inverted dropout: ``A ⊙ mask / (1 - rate)`` in training, the identity in evaluation.

    Each training pass draws one key from ``rng`` and takes the mask from a counter-based
    generator (:func:`dropout_uniforms`): entry ``(i, j)`` is kept where its uniform is at
    least ``rate``, so that the compiled loop (:meth:`kernel_uniform`, on any number of
    threads) draws the same masks from the same keys.

    Parameters
    ----------
    rate : float
        Probability of dropping a unit, in ``[0, 1)``.
    rng : numpy.random.Generator
        Source of the keys (the network's generator).
    """

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.rate = rate
        self.rng = rng
        self.mask: Array = None

    def draw_key(self) -> int:
        """The key of the next training pass's mask (one draw from ``rng``)."""
        return int(self.rng.integers(0, KEY_HIGH, dtype=np.int64))

    @staticmethod
    def draw_keys(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Keys drawn at once, the same as :meth:`draw_key` draws them one by one in C
        order (the compiled loop's keys for a run of steps)."""
        return rng.integers(0, KEY_HIGH, size=shape, dtype=np.int64)

    @staticmethod
    def kernel_uniform(key: Any, index: Any) -> float:  # pragma: no cover - compiled
        """Entry ``index`` (flat, ``i n + j``) of :func:`dropout_uniforms`, compiled: the
        same splitmix64 output, in ``uint64`` arithmetic."""
        u = np.uint64(key) + np.uint64(index + 1) * np.uint64(_GOLDEN)
        u = (u ^ (u >> np.uint64(30))) * np.uint64(_MIX_1)
        u = (u ^ (u >> np.uint64(27))) * np.uint64(_MIX_2)
        u = u ^ (u >> np.uint64(31))
        return float(u >> np.uint64(11)) * 2.0**-53

    def forward(self, A_prev: Array, training: bool) -> Array:
        if not training or self.rate == 0.0:
            self.mask = None
            return A_prev
        keep = 1.0 - self.rate
        draw = dropout_uniforms(self.draw_key(), A_prev.shape)  # on the host, every backend
        mask = ((draw >= self.rate) * (1.0 / keep)).astype(A_prev.dtype)
        if not isinstance(A_prev, np.ndarray):  # e.g. CuPy: move the mask to its device
            mask = A_prev.__array_namespace__().asarray(mask)
        self.mask = mask
        return A_prev * self.mask

    def backward(self, dA: Array) -> Array:
        return dA if self.mask is None else dA * self.mask
