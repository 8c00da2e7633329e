"""One training step of the compiled loop in two compiled halves, with Python between them:
:func:`share_gradient` (this process's share of a batch: the forward pass, the loss and the
backward pass into the flat gradient, with the L2 term) and :func:`apply_gradient` (the
gradient statistics, the check, the clipping and the optimizer step).

Data-parallel training (:mod:`deltaprop.parallel`) runs them around its allreduce of the
gradient (:meth:`deltaprop.fast.loop.CompiledLoop.share_step`,
:meth:`~deltaprop.fast.loop.CompiledLoop.apply_step`): each rank's share of a global batch
is normalised by the whole batch's weight and adds ``1/size`` of the L2 term, as
:func:`deltaprop.train.distributed.distributed_backward` does in NumPy. The operations are
those of :func:`deltaprop.fast.epoch.run_steps` on one thread and one block of rows
(:func:`deltaprop.fast.layered.layered_forward_backward`), so the
results agree with it and with the Python loop to rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core.jit import jit
from deltaprop.core.kernels import nonfinite_check, sum_squares
from deltaprop.fast.epoch import _gather
from deltaprop.fast.layered import layered_forward_backward
from deltaprop.fast.update import optimizer_step, scale

__all__ = ["apply_gradient", "share_gradient"]

_jit = jit(nogil=True, error_model="numpy")


@_jit
def share_gradient(  # pragma: no cover - compiled
    X: Any, Y: Any, w: Any, rows: Any, wsum: float, alpha: float, Ws: Any, bs: Any,
    params: Any, grad: Any, starts: Any, stops: Any, ends: Any, As: Any, Zs: Any,
    dZ_a: Any, dZ_b: Any, Xb: Any, Yb: Any, losses: Any, acts: Any, aps: Any, Ds: Any,
    Ms: Any, rates: Any, bn: Any, Ps: Any, Hs: Any, Vs: Any, Ss: Any, RMs: Any, RVs: Any,
    keys: Any,
    out_code: int, loss_code: int, loss_p: float,
) -> float:  # fmt: skip
    """The gradient of the rows ``rows`` of ``X``, ``Y`` (``w``: all the sample weights, or
    empty) normalised by ``wsum`` (the whole batch's weight), into ``grad`` (every entry
    written), plus ``(alpha / wsum) W``; returns ``Σ_rows w_i L_i / wsum + alpha/(2 wsum) ΣW²``.

    ``rows`` may be empty (a rank without a share): ``grad`` is then the L2 term's alone.
    The buffers are those of :meth:`deltaprop.fast.loop.CompiledLoop._buffers` for
    ``rows.size`` rows; ``keys`` the step's dropout keys, one per dropout layer.
    """
    m = rows.size
    total = 0.0
    if m > 0:
        _gather(X, Y, rows, 0, Xb, Yb)
        shared = np.zeros(1)  # one block of rows on one thread: its loss sum
        sync = np.zeros(16, np.int64)
        layered_forward_backward(0, 1, sync, 0, 0, 1, 1, shared, w, rows, m, wsum, grad,
                                 grad[:0].reshape(0, 0), 0, Ws, bs, starts, stops, As, Zs,
                                 dZ_a, dZ_b, Xb, Yb, losses, acts, aps, Ds, Ms, rates, bn, Ps,
                                 Hs, Vs, Ss, RMs, RVs, keys, out_code, loss_code,
                                 loss_p)  # fmt: skip
        total = shared[0]
    else:
        grad[:] = 0
    l2 = alpha / wsum
    sq_all = 0.0
    if l2:
        c = params.dtype.type(l2)
        for l in range(starts.size):
            W, g = params[starts[l] : stops[l]], grad[starts[l] : stops[l]]
            sq_all += sum_squares(W)
            for i in range(g.size):
                g[i] += c * W[i]
    return total / wsum + (0.5 * l2 * sq_all if l2 else 0.0)


@_jit
def apply_gradient(  # pragma: no cover - compiled
    params: Any, grad: Any, starts: Any, stops: Any, norms: Any, clip_norm: float,
    opt_code: int, t: int, lr: float, h: Any, state0: Any, state1: Any, state2: Any,
) -> bool:  # fmt: skip
    """Add ``‖dW[l]‖`` to ``norms[l]``, clip ``grad`` to norm ``clip_norm`` (0: no clipping)
    and take optimizer step number ``t``; False, changing nothing, when ``grad`` has a
    non-finite entry."""
    if nonfinite_check(grad) != 0:
        return False
    for l in range(starts.size):
        norms[l] += np.sqrt(sum_squares(grad[starts[l] : stops[l]]))
    gnorm = np.sqrt(sum_squares(grad))
    if clip_norm > 0 and gnorm > clip_norm:
        scale(grad, grad.dtype.type(clip_norm / gnorm))
    optimizer_step(params, grad, opt_code, t, lr, h, state0, state1, state2)
    return True
