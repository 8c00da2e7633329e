"""The data-parallel gradient: each rank's share of one global batch, summed by one
allreduce into the gradient of the whole batch."""

from __future__ import annotations

import numpy as np

from deltaprop.core import Network
from deltaprop.parallel import Communicator

__all__ = ["distributed_backward", "share_backward"]


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
    l2 = alpha / wsum / comm.size
    if Xl.shape[0] > 0:
        cost = net.backward(Xl, Yl, wl, training=True, l2=l2, total_weight=wsum)
    else:  # an empty share still adds its 1/size of the L2 term, dW = l2 W
        net.grad[...] = 0
        if l2:
            for layer in net.dense:
                layer.grads["W"][...] = l2 * layer.W
        cost = net.l2_term(l2)
    packed = np.append(net.grad, net.grad.dtype.type(cost))
    comm.allreduce(packed)
    net.grad[...] = packed[:-1]
    return float(packed[-1])
