"""Mini-batches: the batch size a run of ``n`` rows takes, the rows of a shuffled batch
gathered without allocating, and the per-layer gradient norms with the finiteness check
after each backward pass."""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import issparse

from deltaprop.core import Network
from deltaprop.core import fused as _fused

__all__ = ["BatchGather", "GradStats", "effective_batch_size"]


def effective_batch_size(batch_size: int | None, n: int) -> int:
    """The mini-batch size that ``n`` rows take: ``batch_size`` clipped to ``[1, n]``.

    Parameters
    ----------
    batch_size : int or None
        The size asked for; ``None`` for full batches.
    n : int
        The number of training rows.

    Returns
    -------
    int
        ``n`` for ``None``, else ``min(max(batch_size, 1), n)``; the last batch of an
        epoch holds the remainder.

    Examples
    --------
    >>> effective_batch_size(200, 50), effective_batch_size(32, 50), effective_batch_size(None, 50)
    (50, 32, 50)
    """
    if batch_size is None:
        return n
    return min(max(int(batch_size), 1), n)


class BatchGather:
    """The rows ``X[idx]``, ``Y[idx]`` of a shuffled mini-batch, gathered into buffers kept
    per batch size (the full batches and the last one), so that the loop allocates none."""

    def __init__(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.X, self.Y = X, Y
        self.buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(X[idx], Y[idx])`` for the row indices ``idx`` of shape ``(m,)``; the arrays are
        overwritten by the next call of the same ``m`` (new ones for sparse ``X``)."""
        m = idx.shape[0]
        if issparse(self.X):  # sparse rows: SciPy gathers them into a new CSR batch
            return self.X[idx], self.Y.take(idx, axis=0)
        if m not in self.buffers:
            X, Y = self.X, self.Y
            self.buffers[m] = (np.empty((m, *X.shape[1:]), X.dtype), np.empty((m, *Y.shape[1:]), Y.dtype))  # fmt: skip
        Xb, Yb = self.buffers[m]
        # mode="clip" (the indices are in range) lets take write into out unbuffered
        self.X.take(idx, axis=0, out=Xb, mode="clip")
        self.Y.take(idx, axis=0, out=Yb, mode="clip")
        return Xb, Yb


class GradStats:
    """After a backward pass: add ``‖dW[l]‖_F`` to the epoch's sums and check that the
    whole gradient is finite, in one compiled pass where :mod:`deltaprop.core.fused` is loaded."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.kernels = _fused.get(net.n_params)
        starts = [sl.start for sl in net.slices]
        self.starts = np.array(starts, dtype=np.intp)
        self.stops = self.starts + [d.n_in * d.n_out for d in net.dense]

    def dW_norms_into(self, norms: np.ndarray) -> bool:
        """Add ``‖dW[l]‖_F`` of the current gradient to ``norms`` (shape ``(L,)``); True when
        the whole flat gradient is finite."""
        net = self.net
        if self.kernels is not None and isinstance(net.grad, np.ndarray):
            return bool(self.kernels.grad_stats(net.grad, self.starts, self.stops, norms))
        for l, layer in enumerate(net.dense):
            dW = layer.grads["W"]
            norms[l] += math.sqrt(float(np.vdot(dW, dW)))
        return bool(np.isfinite(net.grad).all())
