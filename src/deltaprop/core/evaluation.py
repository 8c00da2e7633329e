"""The evaluation-mode forward pass: in row batches, into one preallocated output, no caches.

Training needs each layer's ``A_prev``, ``Z`` and ``A`` for the backward pass, so
:meth:`Dense.forward <deltaprop.core.layers.Dense.forward>` keeps them. Prediction needs none
of them: :func:`evaluate` runs the layers' :meth:`~deltaprop.core.layers.Dense.evaluate` on
``batch_rows`` rows at a time and writes each batch's output into one array of shape
``(n_samples, n_L)``, so that its memory is the output plus one batch's temporaries, and
nothing of ``n_samples`` rows stays on the layers afterwards.

Every operation is row-independent (products, bias, batch norm with running statistics,
elementwise and row-wise activations), so a row's output does not depend on the other rows
of its batch, with one exception: the BLAS product ``A_prev Wᵀ`` picks its kernels by the
block's shape (a one-row block is a matrix-vector product; the rows of a block's edge, and
of each thread's share, take edge kernels), and those sum the ``n_{l-1}`` products of a dot
in a different order. A row's value can then differ by a few rounding errors of that dot
(relative ``~ n_{l-1} · eps`` of ``Σ |a_k w_k|``) between batch sizes. A given batch size
always gives the same bits; one batch of all rows is bit-identical to
:meth:`Dense.forward <deltaprop.core.layers.Dense.forward>` in evaluation mode.
"""

from __future__ import annotations

import numbers
from typing import Any

from deltaprop.core.layers import Dense

__all__ = ["BATCH_BYTES", "batch_rows", "check_batch_size", "evaluate"]

Array = Any

BATCH_BYTES = 1 << 22
"""The size (4 MiB) that the widest layer's array of one batch may take by default."""


def check_batch_size(batch_size: Any) -> int | None:
    """``None`` or a positive integer: the rows of one prediction batch.

    Raises
    ------
    ValueError
        For anything else, naming the value received.
    """
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(
            f"batch_size must be a positive integer or None. Received: batch_size={batch_size!r}"
        )
    if batch_size <= 0:
        raise ValueError(
            f"batch_size must be a positive integer or None. Received: batch_size={batch_size!r}"
        )
    return int(batch_size)


def batch_rows(net: Any, batch_size: int | None = None) -> int:
    """The rows of one batch: ``batch_size``, or by default as many rows as keep the widest
    layer's array of a batch within :data:`BATCH_BYTES` (a multiple of 256, at least 256)."""
    if batch_size is not None:
        return batch_size
    row_bytes = max(net.layer_sizes) * net.dtype.itemsize
    return max(256, (BATCH_BYTES // row_bytes) // 256 * 256)


def evaluate(
    net: Any,
    X: Array,
    *,
    logits: bool = False,
    batch_size: int | None = None,
    hidden: bool = False,
) -> Array | list[Array]:
    """The evaluation-mode forward pass of ``net`` (a ``Network``) over checked ``X``.

    Parameters
    ----------
    net : Network
    X : ndarray or CSR matrix of shape (n_samples, n_0)
        As :meth:`Network.check_X` returns it.
    logits : bool, default=False
        The output layer's ``Z[L]`` instead of ``A[L] = g(Z[L])``.
    batch_size : int or None, default=None
        Rows per batch (:func:`batch_rows`); checked by :func:`check_batch_size`.
    hidden : bool, default=False
        Return ``[A[1], ..., A[L-1]]`` (each of shape ``(n_samples, n_l)``) instead.

    Returns
    -------
    ndarray of shape (n_samples, n_L), or the list of hidden activations
        Fresh arrays that the caller owns; no layer keeps a reference to them.
    """
    rows = batch_rows(net, check_batch_size(batch_size))
    n = X.shape[0]
    xp = net.xp
    widths = net.layer_sizes[1:-1] if hidden else net.layer_sizes[-1:]
    outs = [xp.empty((n, w), dtype=net.dtype) for w in widths]
    layers = net.layers[:-1] if hidden else net.layers
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        A = X[start:stop]
        k = 0
        for layer in layers:
            if isinstance(layer, Dense):
                A = layer.evaluate(A, logits=logits and layer is net.dense[-1])
                if hidden:
                    outs[k][start:stop] = A
                    k += 1
            else:  # dropout: the identity in evaluation
                A = layer.forward(A, False)
        if not hidden:
            outs[0][start:stop] = A
        del A
    return outs if hidden else outs[0]
