"""The compiled mini-batch loop: a run of training steps in one numba call (no Python per step).

This is the trainer's hot loop (``Trainer._fit_sgd``) for the common network, compiled: for
each mini-batch it gathers the rows, runs the forward pass and the loss, the backward pass
(the seeds' ``dZ[L] = A[L] - Y``, ``dW = dZᵀ A_prev / m``, ``db = Σ dZ / m``,
``dZ[l] = dZ[l+1] W[l+1] ⊙ g'(Z[l])``), the gradient statistics, the optional clipping and
the optimizer step, with the matrix products in BLAS (``np.dot`` with an output array,
through SciPy's BLAS) and everything else in single passes. It repeats the operations of
the Python path (:meth:`backprop.network.Network._backward`, :mod:`backprop.optimizers`,
:mod:`backprop._fused_kernels`) in the same order and precision, so results agree with the
Python loop to rounding (``exp``, ``log``, ``tanh`` come from another math library; see
``tests/test_fused_epoch.py``). :func:`backprop.training.compiled_loop_reason` says which
networks and settings it serves; everything else runs the Python loop.

Codes (small integers, so that one compiled function serves every network):

* hidden activations ``ACT_*``: identity, relu, tanh, sigmoid;
* output ``OUT_*``: identity + mean squared error, sigmoid + binary cross-entropy,
  softmax + categorical cross-entropy (the fused pairs, ``dZ[L] = A[L] - Y``);
* optimizers ``OPT_*``: SGD (with momentum, Nesterov, weight decay), Adam/AdamW (AMSGrad).

Two departures from the Python loop's order of operations, both exact in real arithmetic:
the seeds' ``1/m`` (or ``w_i / Σw``) multiplies the output error once instead of every
``dW`` and ``db`` (the backward pass is linear in it), and without clipping each layer is
checked, measured and updated as soon as its gradient is complete and ``W[l]`` has served
``dA_prev`` (a non-finite gradient still stops the step before that layer's update; the
trainer then restores the weights of the last finite epoch, as the Python loop does).

numba caches the machine code beside this module; its cache does not notice edits to the
kernels imported from :mod:`backprop._fused_kernels`, so after editing those, delete
``src/backprop/__pycache__/*.nbi`` (installed packages are not affected).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from backprop._fused_kernels import _nonfinite_check, _sum_squares, adam, add_bias, grad_stats

ACT_IDENTITY, ACT_RELU, ACT_TANH, ACT_SIGMOID = 0, 1, 2, 3
OUT_MSE, OUT_BCE, OUT_CE = 0, 1, 2
OPT_SGD, OPT_ADAM = 0, 1

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _activate(A: Any, code: int) -> None:  # pragma: no cover - compiled
    """``A ← g(A)`` in place: a hidden layer's ``Z`` becomes its ``A`` (2-D C-contiguous).

    No hidden layer keeps ``Z``: each derivative below reads ``A`` instead.
    """
    a = A.ravel()
    one = a.dtype.type(1)
    zero = a.dtype.type(0)
    if code == ACT_RELU:
        for i in range(a.size):
            a[i] = zero if a[i] <= zero else a[i]  # np.maximum(Z, 0): NaN propagates
    elif code == ACT_TANH:
        for i in range(a.size):
            a[i] = np.tanh(a[i])
    elif code == ACT_SIGMOID:
        for i in range(a.size):
            a[i] = one / (one + np.exp(-a[i]))


@_jit
def _activation_backward(dA: Any, A: Any, code: int) -> None:  # pragma: no cover - compiled
    """``dA ← dA ⊙ g'(Z)`` in place: the seeds' ``dZ[l] = dA[l] ⊙ g'(Z[l])``, with ``g'``
    from ``A``: ``[A > 0]`` for ReLU (the same as ``[Z > 0]``), ``1 - A²``, ``A (1 - A)``."""
    d, a = dA.ravel(), A.ravel()
    one = d.dtype.type(1)
    zero = d.dtype.type(0)
    if code == ACT_RELU:
        for i in range(d.size):
            d[i] = d[i] if a[i] > zero else zero
    elif code == ACT_TANH:
        for i in range(d.size):
            d[i] = d[i] * (one - a[i] * a[i])
    elif code == ACT_SIGMOID:
        for i in range(d.size):
            d[i] = d[i] * (a[i] * (one - a[i]))


@_jit
def _output(Z: Any, Y: Any, dZ: Any, losses: Any, code: int) -> None:  # pragma: no cover
    """The fused output pair: per-example losses from the logits and ``dZ[L] = A[L] - Y``."""
    m, n = Z.shape
    t = Z.dtype.type
    for i in range(m):
        if code == OUT_CE:
            mx = Z[i, 0]
            for j in range(1, n):
                if Z[i, j] > mx:
                    mx = Z[i, j]
            s = t(0)
            for j in range(n):
                e = np.exp(Z[i, j] - mx)
                dZ[i, j] = e
                s += e
            log_norm = np.log(s)
            acc = t(0)
            for j in range(n):
                acc += Y[i, j] * (log_norm - (Z[i, j] - mx))
                dZ[i, j] = dZ[i, j] / s - Y[i, j]
            losses[i] = acc
        elif code == OUT_BCE:
            acc = t(0)
            for j in range(n):
                z = Z[i, j]
                acc += max(z, t(0)) - z * Y[i, j] + np.log1p(np.exp(-abs(z)))
                dZ[i, j] = t(1) / (t(1) + np.exp(-z)) - Y[i, j]
            losses[i] = acc
        else:
            acc = t(0)
            for j in range(n):
                r = Z[i, j] - Y[i, j]
                dZ[i, j] = r
                acc += r * r
            losses[i] = t(0.5) * acc


@_jit
def _column_sums(dZ: Any, db: Any) -> None:  # pragma: no cover - compiled
    """``db = Σ_i dZ[i]``, row after row as NumPy's ``sum(axis=0)``."""
    m, n = dZ.shape
    for j in range(n):
        db[j] = dZ[0, j]
    for i in range(1, m):
        for j in range(n):
            db[j] += dZ[i, j]


@_jit
def _scale(a: Any, s: Any) -> None:  # pragma: no cover - compiled
    for i in range(a.size):
        a[i] *= s


@_jit
def _sgd(  # pragma: no cover - compiled
    params: Any, grads: Any, buf: Any, t: int, lr: Any, momentum: Any, nesterov: bool,
    weight_decay: Any,
) -> None:  # fmt: skip
    """``optimizers.SGD._update`` in one pass (same operations, same order)."""
    d = params.dtype.type
    lr, momentum, weight_decay = d(lr), d(momentum), d(weight_decay)
    for i in range(params.size):
        g = grads[i]
        if weight_decay != d(0):
            g = params[i] * weight_decay + g
        if momentum != d(0):
            b = g if t == 1 else buf[i] * momentum + g
            buf[i] = b
            g = b * momentum + g if nesterov else b
        params[i] = params[i] - g * lr


@_jit
def run_steps(  # pragma: no cover - compiled
    X: Any, Y: Any, w: Any, order: Any, m: int,
    Ws: Any, bs: Any, gWs: Any, gbs: Any, gWb: Any, As: Any, dZ_a: Any, dZ_b: Any, Xb: Any,
    Yb: Any, wb: Any, losses: Any, acts: Any, out_code: int, alpha: float, clip_norm: float,
    params: Any, grad: Any, starts: Any, stops: Any, norms: Any, cost_sum: Any,
    opt_code: int, counts: Any, lr: float, h: Any, state0: Any, state1: Any, state2: Any,
) -> int:  # fmt: skip
    """``len(order) // m`` training steps on the rows ``order`` (batches of ``m`` rows).

    Returns the number of steps taken; fewer than asked when a step's cost or gradient is
    not finite (that step's update is not applied), so that the caller reports the
    divergence (its cost in ``cost_sum[1]``). ``cost_sum[0]`` accumulates ``Σ_batches cost · Σw``, ``norms[l]`` the
    per-layer ``‖dW[l]‖``; ``counts[0]`` is the optimizer's step counter ``t``, ``counts[1]``
    counts the batches taken (a batch of zero total weight is skipped).

    ``Ws``, ``bs``, ``gWs``, ``gbs`` are typed lists of the layers' views into ``params``
    and ``grad``; ``gWb[l]`` is layer ``l``'s adjacent ``dW, db`` slice of ``grad``;
    ``As[l]`` holds layer ``l``'s activations (``m`` rows; the last layer's ``Z``), and
    ``dZ_a``, ``dZ_b`` are two flat buffers of ``m · max n_l`` entries that the errors of
    consecutive layers take in turn; ``h`` the optimizer's
    hyper-parameters (see ``training._CompiledLoop``); ``state0..2`` its state arrays.
    """
    L = len(Ws)
    n_steps = order.size // m
    weighted = w.size > 0
    for step in range(n_steps):
        # gather the batch
        for i in range(m):
            r = order[step * m + i]
            for j in range(X.shape[1]):
                Xb[i, j] = X[r, j]
            for j in range(Y.shape[1]):
                Yb[i, j] = Y[r, j]
            if weighted:
                wb[i] = w[r]
        wsum = float(m)
        if weighted:
            wsum = 0.0
            for i in range(m):
                wsum += wb[i]
            if wsum <= 0:
                continue
        l2 = alpha / wsum
        # forward: Z = A_prev Wᵀ + b, A = g(Z)
        A = Xb
        for l in range(L):
            np.dot(A, Ws[l].T, As[l])
            add_bias(As[l], bs[l])
            if l < L - 1:
                _activate(As[l], acts[l])
                A = As[l]
        n_out = As[L - 1].shape[1]
        dZ = dZ_a[: m * n_out].reshape(m, n_out)
        _output(As[L - 1], Yb, dZ, losses, out_code)
        total = 0.0
        if weighted:
            for i in range(m):
                total += losses[i] * wb[i]
        else:
            for i in range(m):
                total += losses[i]
        cost = total / wsum
        if l2:
            sq = 0.0
            for l in range(L):
                sq += _sum_squares(Ws[l].ravel())
            cost += 0.5 * l2 * sq
        if not np.isfinite(cost):
            cost_sum[1] = cost
            return step
        # The seeds' "/ m" of dW and db, applied once to the output error instead (the
        # backward pass is linear in it): dZ[L] ← s_i dZ[L] with s_i = 1/m, or w_i / Σw
        # with sample weights (the weighted mean of Network._backward).
        inv = dZ.dtype.type(1.0 / wsum)
        for i in range(m):
            s = wb[i] * inv if weighted else inv
            for j in range(dZ.shape[1]):
                dZ[i, j] *= s
        # backward: dW = dZᵀ A_prev (+ l2 W), db = Σ dZ, dA_prev = dZ W
        counts[0] += 1  # the optimizer's step t
        # Without clipping, each layer is updated as soon as its gradient is known and
        # W[l] has served dA_prev: the gradient is still in cache, and one pass both checks
        # it and adds its norm. Clipping needs the whole gradient's norm first.
        by_layer = clip_norm <= 0
        for l in range(L - 1, -1, -1):
            A_prev = Xb if l == 0 else As[l - 1]
            np.dot(dZ.T, A_prev, gWs[l])
            _column_sums(dZ, gbs[l])
            if l2:
                c = params.dtype.type(l2)
                gW, W = gWs[l].ravel(), Ws[l].ravel()
                for i in range(gW.size):
                    gW[i] += c * W[i]
            if l > 0:
                free = dZ_b if (L - 1 - l) % 2 == 0 else dZ_a  # the buffer dZ is not in
                dA = free[: m * A_prev.shape[1]].reshape(m, A_prev.shape[1])
                np.dot(dZ, Ws[l], dA)
                _activation_backward(dA, A_prev, acts[l - 1])
                dZ = dA  # dZ[l-1], for the next layer down
            if by_layer:
                lo, hi = starts[l], starts[l] + gWb[l].size
                norms[l] += np.sqrt(_sum_squares(grad[lo : stops[l]]))
                if _nonfinite_check(grad[lo:hi]) != 0:
                    cost_sum[1] = cost
                    return step
                _optimizer_step(params[lo:hi], grad[lo:hi], opt_code, counts[0], lr, h,
                                state0[lo:hi], state1[lo:hi], state2[lo:hi])  # fmt: skip
        if not by_layer:
            if not grad_stats(grad, starts, stops, norms):
                cost_sum[1] = cost
                return step
            gnorm = np.sqrt(np.dot(grad, grad))
            if gnorm > clip_norm:
                _scale(grad, grad.dtype.type(clip_norm / gnorm))
            _optimizer_step(params, grad, opt_code, counts[0], lr, h, state0, state1, state2)
        cost_sum[0] += cost * wsum
        counts[1] += 1
    return n_steps


@_jit
def _optimizer_step(  # pragma: no cover - compiled
    params: Any, grad: Any, opt_code: int, t: int, lr: float, h: Any, state0: Any,
    state1: Any, state2: Any,
) -> None:  # fmt: skip
    """One step of SGD or Adam (``optimizers.SGD._update``, ``Adam._fused_update``) on a
    slice of the flat buffers; elementwise, so slices may be updated one by one."""
    if opt_code == OPT_ADAM:
        b1, b2, eps, wd, decoupled, amsgrad = h[0], h[1], h[2], h[3], h[4] != 0, h[5] != 0
        weight = 1.0 - b1
        lerp_small = abs(weight) < 0.5
        adam(
            params, grad, state0, state1, state2, amsgrad,
            1.0 - lr * wd if (decoupled and wd != 0.0) else 1.0, wd,
            weight if lerp_small else 1.0 - weight, lerp_small, b2, 1.0 - b2,
            (1.0 - b2**t) ** 0.5, eps, lr / (1.0 - b1**t), wd != 0.0 and not decoupled, h[6],
        )  # fmt: skip
    else:
        _sgd(params, grad, state0, t, lr, h[0], h[1] != 0, h[2])
