"""Mini-batches: the batch size a run of ``n`` rows takes (and the refusal of a batch of 1
row under batch norm), the rows of a shuffled batch gathered without allocating, and the
per-layer gradient norms with the finiteness check after each backward pass."""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import issparse

from deltaprop.core import Network
from deltaprop.core import fused as _fused

__all__ = ["BatchGather", "GradStats", "check_batch_norm_batches", "effective_batch_size"]


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


def check_batch_norm_batches(
    net: Network, batch_size: int | None, n: int, ranks: int = 1
) -> None:  # fmt: skip
    """Refuse, before any epoch, a fit of ``net`` with batch norm whose batches of
    ``batch_size`` over ``n`` training rows include one of 1 row (as
    :meth:`deltaprop.core.batch_norm.BatchNorm.forward` refuses it, PyTorch's rule); over
    ``ranks`` MPI ranks, each of which normalizes its share of a batch by the share's own
    statistics, one whose shares (:func:`deltaprop.parallel.even_share`) include one of 1
    row: every batch then needs ``2 · ranks`` rows.

    Raises
    ------
    ValueError
        Naming the batch norm's layers, ``batch_size``, ``n`` (and ``ranks``), why, and
        batch sizes that leave no batch or share of 1 row.

    Examples
    --------
    >>> net = Network([3, 4, 2], "tanh", "ce", batch_norm=True)
    >>> check_batch_norm_batches(net, 8, 10)
    >>> check_batch_norm_batches(net, 8, 9)
    Traceback (most recent call last):
    ...
    ValueError: batch_size=8 over 9 training rows leaves a last batch of 1 row, and batch norm (on hidden layer 1) needs more than 1 row per batch in training (one row's variance is 0: its normalized values would all be 0, as torch.nn.BatchNorm1d refuses); choose a batch_size that leaves no batch of 1 row, such as 9 or 7
    """
    layers = [str(l) for l, d in enumerate(net.dense, start=1) if d.batch_norm is not None]
    bs = effective_batch_size(batch_size, n)
    least = 2 * ranks  # the rows a batch needs: 2 a share

    def fits(b: int) -> bool:
        return b >= least and (n % b == 0 or n % b >= least)

    if not layers or fits(bs):
        return
    which = f"batch norm (on hidden layer{'s' if len(layers) > 1 else ''} {', '.join(layers)})"
    why = (
        f"{which} needs more than 1 row per batch in training (one row's variance is 0: its "
        "normalized values would all be 0, as torch.nn.BatchNorm1d refuses)"
    )
    if ranks > 1:
        why += (
            f" on each rank, which normalizes its share of a batch by the share's own "
            f"statistics: a batch needs {least} rows over {ranks} ranks"
        )
    what = "batch" if ranks == 1 else "share"
    if n < least:
        rows = f"{n} training row{'s' if n > 1 else ''}" + (
            f" over {ranks} ranks" if ranks > 1 else ""
        )
        raise ValueError(f"a fit on {rows} has a {what} of 1 row, and {why}")
    small = bs if bs < least else n % bs  # the batch too small: all of them, or the last
    cut = "gives batches" if small == bs else "leaves a last batch"
    cut += (
        " of 1 row"
        if ranks == 1
        else f" of {small} row{'s' if small > 1 else ''}, with a share of 1 row"
    )
    sizes = sorted(range(least, n + 1), key=lambda b: (abs(b - bs), -b))
    good = [str(b) for b in sizes if fits(b)][:2]
    raise ValueError(
        f"batch_size={batch_size!r} over {n} training rows {cut}, and {why}; choose a "
        f"batch_size that leaves no {what} of 1 row, such as {' or '.join(good)}"
    )


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
