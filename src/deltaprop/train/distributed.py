"""The data-parallel gradient: each rank's share of one global batch, summed by one
allreduce into the gradient of the whole batch."""

from __future__ import annotations

import numpy as np

from deltaprop.core import Network
from deltaprop.parallel import Communicator

__all__ = ["allreduce_gradient", "distributed_backward", "share_backward"]


def distributed_backward(
    net: Network, Xb: np.ndarray, Yb: np.ndarray, wb: np.ndarray | None, wsum: float,
    alpha: float, comm: Communicator,
) -> float:  # fmt: skip
    """This rank's share of one global batch, then one allreduce of the flat gradient.

    Each rank normalises by the whole batch's weight ``wsum`` and adds ``1/size`` of
    the L2 term, so the sum over ranks is exactly the gradient of the whole batch
    (:mod:`deltaprop.parallel` states the sum).

    Parameters
    ----------
    net : Network
        Its :attr:`~deltaprop.core.Network.grad` receives the whole batch's gradient.
    Xb : ndarray of shape (m, n_0)
    Yb : ndarray of shape (m, n_L)
    wb : ndarray of shape (m,) or None
        The global batch, the same on every rank.
    wsum : float
        ``Σ_{i∈B} w_i`` (``m`` without weights).
    alpha : float
        The L2 coefficient of the objective.
    comm : Communicator

    Returns
    -------
    float
        The whole batch's cost, L2 term included.
    """
    local = comm.split(Xb.shape[0])
    wl = None if wb is None else wb[local]
    return share_backward(net, Xb[local], Yb[local], wl, wsum, alpha, comm)


def share_backward(
    net: Network, Xl: np.ndarray, Yl: np.ndarray, wl: np.ndarray | None, wsum: float,
    alpha: float, comm: Communicator,
) -> float:  # fmt: skip
    """This rank's rows ``Xl`` (shape ``(m_r, n_0)``, possibly none) of one global batch of
    weight ``wsum``, then the allreduce: :func:`distributed_backward` once the share is cut
    (a streamed fit's ranks each hold their own rows of the batch). Returns the whole
    batch's cost, L2 term included."""
    share = alpha / comm.size  # each rank adds 1/size of the L2 term α/(2 wsum) ΣW²
    if Xl.shape[0] > 0:
        cost = net.backward(Xl, Yl, wl, training=True, alpha=share, total_weight=wsum)
    else:  # an empty share still adds its 1/size of the L2 term, dW = (share / wsum) W
        net.grad[...] = 0
        if share:
            for layer in net.dense:
                layer.grads["W"][...] = (share / wsum) * layer.W
        cost = net.l2_term(share, wsum)
    return allreduce_gradient(net.grad, cost, comm)


def allreduce_gradient(grad: np.ndarray, cost: float, comm: Communicator) -> float:
    """Sum this rank's gradient ``grad`` (shape ``(n_params,)``, summed in place) and its
    ``cost`` over the ranks in one allreduce; returns the summed cost."""
    packed = np.append(grad, grad.dtype.type(cost))
    comm.allreduce(packed)
    grad[...] = packed[:-1]
    return float(packed[-1])
