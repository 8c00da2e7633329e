"""The compiled loop's forward and backward pass layer by layer over a thread's blocks of
rows, for networks with batch norm, and the row kernels that both forms of the pass share.

:func:`deltaprop.fast.epoch.run_steps` runs a network without batch norm block by block
(``epoch._forward_backward``: each block of rows through every layer, no meeting). A
batch norm's statistics take the whole batch, so here each layer runs over all of this
thread's blocks in turn, and a batch-normalized layer's sums are taken per block
(:func:`column_sums`, :meth:`deltaprop.core.layers.BatchNorm.kernel_center`,
``kernel_backward_sums``) into ``Ss[l][b]``, the threads meet at a barrier, and every
thread adds the blocks' sums in block order into its own ``Vs[l][tid]`` (the variance
from each block's mean and sum of squares about it,
:meth:`~deltaprop.core.layers.BatchNorm.kernel_add_block`): two barriers per
batch-normalized layer and step, and the same bits on any number of threads (the
blocks depend only on the batch size, :mod:`deltaprop.fast.blocks`). One block of rows
(the MPI share of :mod:`deltaprop.fast.shares`, which runs every network here) gives
the NumPy form's order of operations; more blocks add the column sums blockwise instead
of row after row, and the variance from the blocks' (both exact in real arithmetic;
within 1e-12 of the Python loop in float64, ``tests/fast/test_batch_norm_compiled.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core.jit import jit
from deltaprop.core.kernels import add_bias
from deltaprop.core.layers import BatchNorm, Dropout
from deltaprop.fast.activate import activate, activation_backward
from deltaprop.fast.outputs import fused_output, general_output
from deltaprop.fast.sync import barrier

__all__ = ["column_sums", "dropout", "layered_forward_backward", "times"]

_jit = jit(nogil=True, error_model="numpy")
uniform = _jit(Dropout.kernel_uniform)
_bn_center = _jit(BatchNorm.kernel_center)
_bn_add_block = _jit(BatchNorm.kernel_add_block)
_bn_statistics = _jit(BatchNorm.kernel_statistics)
_bn_normalize = _jit(BatchNorm.kernel_normalize)
_bn_backward_sums = _jit(BatchNorm.kernel_backward_sums)
_bn_backward_apply = _jit(BatchNorm.kernel_backward_apply)


@_jit
def column_sums(dZ: Any, db: Any) -> None:  # pragma: no cover - compiled
    """``db = Σ_i dZ[i]`` (a bias's gradient, a batch norm's ``Σ Z``), row after row as
    NumPy's ``sum(axis=0)``."""
    m, n = dZ.shape
    for j in range(n):
        db[j] = dZ[0, j]
    for i in range(1, m):
        for j in range(n):
            db[j] += dZ[i, j]


@_jit
def dropout(A: Any, D: Any, M: Any, key: Any, r0: int, rate: float) -> None:  # pragma: no cover
    """``M`` the mask of rows ``r0...`` of the batch (``Dropout.forward``: the uniforms of
    :meth:`deltaprop.core.layers.Dropout.kernel_uniform` from ``key``, kept at ``u ≥ rate``,
    scaled by ``1 / (1 - rate)``) and ``D = A ⊙ M``."""
    nt, n = A.shape
    scale = M.dtype.type(1.0 / (1.0 - rate))
    zero = M.dtype.type(0)
    for i in range(nt):
        for j in range(n):
            keep = uniform(key, (r0 + i) * n + j) >= rate
            M[i, j] = scale if keep else zero
            D[i, j] = A[i, j] * M[i, j]


@_jit
def times(a: Any, b: Any) -> None:  # pragma: no cover - compiled
    """``a ← a ⊙ b`` in place (2-D C-contiguous, the same shape)."""
    x, y = a.ravel(), b.ravel()
    for i in range(x.size):
        x[i] = x[i] * y[i]


@_jit
def _block_totals(S: Any, K: int, k: int, out: Any) -> None:  # pragma: no cover - compiled
    """``out = Σ_b S[b, k]`` over the blocks ``b = 0 .. K-1``, in block order."""
    for j in range(out.size):
        out[j] = S[0, k, j]
    for b in range(1, K):
        for j in range(out.size):
            out[j] += S[b, k, j]


@_jit
def _divide(a: Any, m: int) -> None:  # pragma: no cover - compiled
    """``a ← a / m`` (as NumPy's ``mean`` divides the sum)."""
    t = a.dtype.type(m)
    for j in range(a.size):
        a[j] = a[j] / t


@_jit
def layered_forward_backward(  # pragma: no cover - compiled
    tid: int, n_threads: int, sync: Any, gen: int, k0: int, k1: int, K: int, shared: Any,
    w: Any, rows: Any, m: int, wsum: float, grad: Any, grad_others: Any, R: int,
    Ws: Any, bs: Any, starts: Any, stops: Any, As: Any, Zs: Any, dZ_a: Any, dZ_b: Any,
    Xb: Any, Yb: Any, losses: Any, acts: Any, aps: Any, Ds: Any, Ms: Any, rates: Any,
    bn: Any, Ps: Any, Hs: Any, Vs: Any, Ss: Any, RMs: Any, RVs: Any, keys: Any,
    out_code: int, loss_code: int, loss_p: float,
) -> int:  # fmt: skip
    """Blocks ``k0:k1`` of ``K`` (thread ``tid`` of ``n_threads``) of a batch of ``m`` rows
    (``rows``, gathered into ``Xb``, ``Yb``): the forward pass, the loss (block ``b``'s
    ``Σ w_i L_i`` in ``shared[b]``), the backward pass with block ``b``'s ``dW``, ``db`` into
    ``grad`` (``b = 0``) or ``grad_others[b - 1]`` (parameter ``i`` at ``i - R``), as
    ``epoch._forward_backward`` does for one block; the batch norms' ``dγ``, ``dβ`` of the
    whole batch go to block 0's gradient (zeros to the others'). ``Ss[l]`` (K, 5, n_l) holds
    each block's ``Σ Z``, ``Σ (Z - μ_b)²``, ``μ_b`` and the backward pass's two sums (in
    their own rows: a slower thread may still read the forward pass's when a faster one
    writes them), ``Vs[l][tid]`` (5, n_l) this thread's ``1/√(σ²+ε)``, ``μ``, ``σ²``,
    ``mean(dOut)``, ``mean(dOut ⊙ Ẑ)``; thread 0 moves the running statistics.

    Returns ``gen`` (the barriers passed before) plus the barriers passed here, or -1 when
    another thread failed.
    """
    L = len(Ws)
    weighted = w.size > 0
    col = 0  # the next dropout layer's key in keys
    for l in range(L):
        has_bn = bn[l, 0] > 0
        for b in range(k0, k1):
            s0, s1 = (m * b) // K, (m * (b + 1)) // K
            A = Xb[s0:s1] if l == 0 else Ds[l - 1][s0:s1]
            Z = Zs[l][s0:s1]
            np.dot(A, Ws[l].T, Z)
            add_bias(Z, bs[l])
            if has_bn:  # the block's Σ Z, mean and Σ (Z - its mean)²
                column_sums(Z, Ss[l][b, 0])
                _bn_center(Z, Ss[l][b, 0], Ss[l][b, 2], Ss[l][b, 1])
        if has_bn:  # μ and σ² from every block's, in block order
            V = Vs[l][tid]
            gen += 1
            if not barrier(sync, n_threads, gen):
                return -1
            _block_totals(Ss[l], K, 0, V[1])
            _divide(V[1], m)
            V[2, :] = 0
            for b in range(K):
                s0, s1 = (m * b) // K, (m * (b + 1)) // K
                _bn_add_block(Ss[l][b, 2], Ss[l][b, 1], s1 - s0, V[1], V[2])
            _bn_statistics(V[2], V[1], m, V[0], RMs[l], RVs[l], bn[l, 1], bn[l, 2], tid == 0)
            for b in range(k0, k1):
                s0, s1 = (m * b) // K, (m * (b + 1)) // K
                _bn_normalize(Zs[l][s0:s1], V[1], V[0], Ps[l], Hs[l][s0:s1])
        if l < L - 1:
            for b in range(k0, k1):
                s0, s1 = (m * b) // K, (m * (b + 1)) // K
                activate(Zs[l][s0:s1], As[l][s0:s1], acts[l], aps[l])
                if rates[l] > 0:  # dropout: Ds[l] = A ⊙ mask, the next layer's input
                    dropout(As[l][s0:s1], Ds[l][s0:s1], Ms[l][s0:s1], keys[col], s0, rates[l])
            if rates[l] > 0:
                col += 1
    # each block's rows in its own region of dZ_a, dZ_b (s0 · widest onwards)
    widest = dZ_a.size // m
    n_out = As[L - 1].shape[1]
    inv = dZ_a.dtype.type(1.0 / wsum)
    zero = dZ_a.dtype.type(0)
    for b in range(k0, k1):
        s0, s1 = (m * b) // K, (m * (b + 1)) // K
        nt = s1 - s0
        dZ = dZ_a[s0 * widest : s0 * widest + nt * n_out].reshape(nt, n_out)
        lt = losses[s0:s1]
        if out_code >= 0:  # a fused pair: from the logits, dZ[L] = A - Y
            fused_output(Zs[L - 1][s0:s1], Yb[s0:s1], dZ, lt, out_code)
        else:  # the general chain rule: the loss's kernel and the output activation's
            general_output(Zs[L - 1][s0:s1], As[L - 1][s0:s1], Yb[s0:s1], dZ, lt,
                           acts[L - 1], aps[L - 1], loss_code, loss_p)  # fmt: skip
        total = 0.0
        for i in range(nt):
            total += lt[i] * w[rows[s0 + i]] if weighted else lt[i]
        shared[b] = total
        for i in range(nt):  # the seeds' 1/m (or w_i / Σw), once (epoch._forward_backward)
            s = w[rows[s0 + i]] * inv if weighted else inv
            for j in range(n_out):
                dZ[i, j] *= s
    for l in range(L - 1, -1, -1):
        n_l = Ws[l].shape[0]
        buf = dZ_a if (L - 1 - l) % 2 == 0 else dZ_b  # this layer's dZ
        free = dZ_b if (L - 1 - l) % 2 == 0 else dZ_a  # the one dZ is not in
        if bn[l, 0] > 0:  # through the batch norm: the whole batch's dγ, dβ first
            V = Vs[l][tid]
            for b in range(k0, k1):
                s0, s1 = (m * b) // K, (m * (b + 1)) // K
                dZ = buf[s0 * widest : s0 * widest + (s1 - s0) * n_l].reshape(s1 - s0, n_l)
                _bn_backward_sums(dZ, Hs[l][s0:s1], Ss[l][b, 3], Ss[l][b, 4])
            gen += 1
            if not barrier(sync, n_threads, gen):
                return -1
            _block_totals(Ss[l], K, 4, V[3])
            _block_totals(Ss[l], K, 3, V[4])
            for b in range(k0, k1):
                g, goff = (grad, 0) if b == 0 else (grad_others[b - 1], R)
                o = stops[l] - goff + n_l
                for j in range(n_l):
                    g[o + j] = V[4, j] if b == 0 else zero
                    g[o + n_l + j] = V[3, j] if b == 0 else zero
            _divide(V[3], m)
            _divide(V[4], m)
        for b in range(k0, k1):
            s0, s1 = (m * b) // K, (m * (b + 1)) // K
            nt = s1 - s0
            g, goff = (grad, 0) if b == 0 else (grad_others[b - 1], R)
            dZ = buf[s0 * widest : s0 * widest + nt * n_l].reshape(nt, n_l)
            A_prev = Xb[s0:s1] if l == 0 else Ds[l - 1][s0:s1]
            db = g[stops[l] - goff : stops[l] - goff + n_l]
            if bn[l, 0] > 0:  # the input error of the batch norm, and db in the same pass
                _bn_backward_apply(dZ, Hs[l][s0:s1], Vs[l][tid, 0], Ps[l], Vs[l][tid, 3],
                                   Vs[l][tid, 4], db)  # fmt: skip
            else:
                column_sums(dZ, db)
            gW = g[starts[l] - goff : stops[l] - goff].reshape(n_l, Ws[l].shape[1])
            np.dot(dZ.T, A_prev, gW)
            if l > 0:
                n_prev = A_prev.shape[1]
                dA = free[s0 * widest : s0 * widest + nt * n_prev].reshape(nt, n_prev)
                np.dot(dZ, Ws[l], dA)
                if rates[l - 1] > 0:  # through the dropout: dA ⊙ mask
                    times(dA, Ms[l - 1][s0:s1])
                activation_backward(dA, Zs[l - 1][s0:s1], As[l - 1][s0:s1], acts[l - 1],
                                    aps[l - 1])  # fmt: skip
    return gen
