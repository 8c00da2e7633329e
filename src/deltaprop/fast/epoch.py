"""The compiled mini-batch loop: a run of training steps in one numba call (no Python per step).

This is the trainer's hot loop (:func:`deltaprop.train.sgd.fit_sgd`) for the common network, compiled: for
each mini-batch it gathers the rows, runs the forward pass and the loss, the backward pass
(the seeds' ``dZ[L] = A[L] - Y``, ``dW = dZᵀ A_prev / m``, ``db = Σ dZ / m``,
``dZ[l] = dZ[l+1] W[l+1] ⊙ g'(Z[l])``), the gradient statistics, the optional clipping and
the optimizer step, with the matrix products in BLAS (``np.dot`` with an output array,
through SciPy's BLAS) and everything else in single passes. It repeats the operations of
the Python path (:meth:`deltaprop.core.network.Network.backward`, :mod:`deltaprop.optim.optimizers`,
:mod:`deltaprop.core.kernels`), so results agree with the Python loop to rounding
(``tests/test_fast_loop.py``). :meth:`deltaprop.fast.loop.CompiledLoop.create` says which
networks and settings it serves; everything else runs the Python loop.

Several threads run the same function at once (:func:`run_steps`). A step's work is cut
into pieces whose bounds depend only on the batch size and the network
(:mod:`deltaprop.fast.blocks`): blocks of the batch's rows, each computing its forward and
backward pass into its own gradient buffer; chunks of the parameters, where the blocks'
gradients are added in block order, checked, measured and updated; and, for a wide first
layer, blocks of its units, each computing its units' activations and gradient over all
rows. Each thread takes a share of the pieces, and every sum over pieces is taken in piece
order, so the bits do not depend on the number of threads. The threads meet at spin
barriers (:mod:`deltaprop.fast.sync`).

Codes (small integers, so that one compiled function serves every network, with batch norm
or without: ``run_steps``'s ``bn``):

* hidden activations: the ``compiled`` code each activation class declares
  (each class's ``compiled``: ``ReLU.compiled``, ...), whose kernels the class
  writes beside its NumPy form (:mod:`deltaprop.fast.activate` compiles them): every
  elementwise activation;
* output: the ``compiled`` code each loss class declares for its fused pair
  (each loss class's ``compiled``: ``MeanSquaredError.compiled``, ...): identity + mean squared error,
  sigmoid + binary cross-entropy, softmax + categorical cross-entropy
  (``dZ[L] = A[L] - Y``); ``-1`` for any other pair, whose output runs the general chain
  rule (:func:`deltaprop.fast.outputs.general_output`: the output activation's kernel
  (``acts[L-1]``), the loss's own (``loss_code``, ``loss_p``);
* optimizers ``OPT_*`` (:mod:`deltaprop.fast.update`): SGD (with momentum, Nesterov,
  weight decay), RMSprop (momentum, centered), Adam/AdamW (AMSGrad).

Departures from the Python loop's order of operations, all exact in real arithmetic: the
seeds' ``1/m`` (or ``w_i / Σw``) multiplies the output error once instead of every ``dW``
and ``db`` (the backward pass is linear in it); ``dW`` is the sum of the row blocks' (on any
number of threads); the sums of squares are taken in float64 in another order.

Batch norm (``bn[l]``: whether, its momentum and epsilon; ``Ps[l]`` its ``γ``, ``β``,
``Hs[l]`` its ``Ẑ``, ``Vs[l]`` each thread's statistics, ``Ss[l]`` each block's sums,
``RMs[l]``, ``RVs[l]`` the running statistics): its statistics take every row of the batch,
so a network with batch norm runs layer by layer over each thread's blocks, the threads
meeting where a layer's statistics need every block's sums
(:func:`deltaprop.fast.layered.layered_forward_backward`); the blocks and the order of
their sums are those of any other network, so the bits do not depend on the threads.

Dropout (``rates``): the masks come from one key per step and layer (``keys``, drawn by
:meth:`deltaprop.fast.loop.CompiledLoop.epoch` from the network's generator as the Python
loop's ``Dropout.draw_key`` draws them) and the entry's place in the batch
(``Dropout.kernel_uniform``), so that no thread's share changes a mask.

numba caches the machine code beside each module, keyed on that module's source; the
machine code of a caller holds the kernels it calls from other modules
(:mod:`deltaprop.core.kernels`, the classes' kernels in :mod:`deltaprop.core.activations`,
``losses``, :mod:`deltaprop.optim`, ...), so each cache here is also stamped with a digest
of every module of ``deltaprop.core``, ``optim`` and ``fast`` (:func:`deltaprop.core.jit.jit`):
an edit to any of them, or an upgrade, compiles the loop afresh instead of loading old code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core.jit import jit
from deltaprop.core.kernels import add_bias, nonfinite_check, sum_squares
from deltaprop.fast.activate import activate, activation_backward
from deltaprop.fast.blocks import BLOCKS
from deltaprop.fast.layered import column_sums, dropout, layered_forward_backward, times
from deltaprop.fast.outputs import fused_output, general_output
from deltaprop.fast.sync import ABORT, barrier, post_job, wait_job
from deltaprop.fast.update import OPT_ADAM, OPT_RMSPROP, OPT_SGD, optimizer_step, scale

__all__ = ["ABORT", "OPT_ADAM", "OPT_RMSPROP", "OPT_SGD", "post_job", "run_steps", "wait_job"]

_jit = jit(nogil=True, error_model="numpy")


@_jit
def run_steps(  # pragma: no cover - compiled
    tid: int, n_threads: int, sync: Any, shared: Any,
    X: Any, Y: Any, w: Any, order: Any, m: int, n_blocks: int,
    Ws: Any, bs: Any, As: Any, Zs: Any, dZ_a: Any, dZ_b: Any, Xb: Any, Yb: Any,
    losses: Any, scratch: Any, split_first: bool, acts: Any, aps: Any, Ds: Any, Ms: Any,
    rates: Any, bn: Any, Ps: Any, Hs: Any, Vs: Any, Ss: Any, RMs: Any, RVs: Any, keys: Any,
    out_code: int, loss_code: int, loss_p: float, alpha: float, clip_norm: float, params: Any, grad: Any, grad_others: Any, starts: Any, stops: Any, ends: Any, norms: Any,
    cost_sum: Any, opt_code: int, counts: Any, t0: int, lr: float, h: Any,
    state0: Any, state1: Any, state2: Any,
) -> int:  # fmt: skip
    """``len(order) // m`` training steps on the rows ``order`` (batches of ``m`` rows),
    run by ``n_threads`` threads at once (at most ``n_blocks``), this one being ``tid``.

    The work of a step is cut into pieces whose bounds depend only on the batch size and
    the network, never on ``n_threads``, and every sum over pieces is taken in piece
    order, so that the bits are the same whatever the number of threads:

    * ``n_blocks`` blocks of the batch's rows (:func:`deltaprop.fast.blocks.row_blocks`):
      block ``b`` runs the forward and backward pass of its rows into its own gradient
      (``grad`` for block 0, ``grad_others[b - 1]`` for the others, which start at the
      parameter ``R`` below); its loss sum lands in ``shared[b]``;
    * :data:`BLOCKS` chunks of the parameters from ``R`` on: the block gradients are
      added there in block order (``g_0 + g_1 + ...``), checked, measured, clipped and
      updated; each chunk's sums land in its own slots of ``shared``;
    * with ``split_first`` (a wide first layer), ``min(BLOCKS, n_1)`` blocks of the first
      layer's units, each computing its units' activations and gradient over all rows
      (:func:`_first_forward`, :func:`_first_backward`); ``R`` is then the end of the
      first layer's parameters (0 otherwise).

    ``bn`` is ``None`` for a network without batch norm, else its per-layer ``(on,
    momentum, ε)`` rows: the pass is then taken layer by layer
    (:func:`deltaprop.fast.layered.layered_forward_backward`). ``None`` is its own numba
    type, and numba drops a branch on ``arg is None`` before typing, so each of the two
    is compiled apart, and a network compiles only the pass it runs (the batch-norm one
    and its kernels are about 8 s of a 38 s cold compile).

    Thread ``tid`` takes a contiguous share of each kind of piece; the threads meet at spin
    barriers on ``sync``. One thread runs every piece itself.

    Returns the number of steps taken; fewer than asked when a step's cost or gradient is
    not finite, so that the caller reports the divergence (its cost in ``cost_sum[1]``);
    -1 when another thread failed (``sync[ABORT]``).
    Thread 0 accumulates ``Σ_batches cost · Σw`` in ``cost_sum[0]`` and the per-layer
    ``‖dW[l]‖`` in ``norms``, sets ``counts[0]`` to the optimizer's step counter (``t0``
    on entry) and counts the batches taken in ``counts[1]`` (a batch of zero total weight
    is skipped).

    ``Ws``, ``bs`` are typed lists of the layers' views into ``params``; ``starts[l]``,
    ``stops[l]``, ``ends[l]`` bound layer ``l``'s ``W`` and ``b`` in the flat buffers.
    ``Zs[l]`` and ``As[l]`` hold layer ``l``'s pre-activations and activations (``m``
    rows; ``aps[l]`` is the number its activation's kernel takes), and
    ``dZ_a``, ``dZ_b`` are two flat buffers of ``m · max n_l`` entries that the errors of
    consecutive layers take in turn; ``h`` the optimizer's hyper-parameters (see
    ``_fast_loop.CompiledLoop``); ``state0..2`` its state arrays; ``shared`` has
    ``BLOCKS + 2 · BLOCKS · (L + 3)`` entries.
    """
    L = len(Ws)
    n_steps = order.size // m
    weighted = w.size > 0
    K = n_blocks
    k0, k1 = (K * tid) // n_threads, (K * (tid + 1)) // n_threads  # this thread's blocks
    r0, r1 = (m * k0) // K, (m * k1) // K  # and their rows
    n0, n_in = Ws[0].shape
    split = split_first and L > 1
    U = min(BLOCKS, n0) if split else 0  # blocks of the first layer's units
    v0, v1 = (U * tid) // n_threads, (U * (tid + 1)) // n_threads  # this thread's
    R = ends[0] if split else 0  # the parameters from R on are shared out in chunks
    P = params.size
    c0, c1 = (BLOCKS * tid) // n_threads, (BLOCKS * (tid + 1)) // n_threads
    slot = L + 3  # a piece's sums: ‖dW[l]‖² per layer, check, ‖W‖², ‖g‖²
    first = 1 if split else 0
    no_w = params[:0]
    gen = 0  # barriers passed
    taken = 0
    forwards = 0  # steps that ran a forward pass: the rows of keys used
    for step in range(n_steps):
        rows = order[step * m : (step + 1) * m]
        wsum = float(m)
        if weighted:  # every thread sums the whole batch's weights: the same decisions
            wsum = 0.0
            for i in range(m):
                wsum += w[rows[i]]
            if wsum <= 0:
                continue
        l2 = alpha / wsum
        step_keys = keys[forwards] if keys.shape[1] > 0 else keys[0, :0]
        forwards += 1
        _gather(X, Y, rows[r0:r1], r0, Xb, Yb)
        if split:  # the first layer, this thread's blocks of units, every row
            gen += 1
            if not barrier(sync, n_threads, gen):
                return -1
            for u in range(v0, v1):
                _first_forward(Xb, Ws[0], bs[0], (n0 * u) // U, (n0 * (u + 1)) // U,
                               scratch[tid], As[0], Zs[0], acts[0], aps[0])  # fmt: skip
            gen += 1
            if not barrier(sync, n_threads, gen):
                return -1
        if bn is not None:  # batch norm: layer by layer (see the docstring: compiled apart)
            gen = layered_forward_backward(tid, n_threads, sync, gen, k0, k1, K, shared, w,
                                           rows, m, wsum, grad, grad_others, R, Ws, bs,
                                           starts, stops, As, Zs, dZ_a, dZ_b, Xb, Yb, losses,
                                           acts, aps, Ds, Ms, rates, bn, Ps, Hs, Vs, Ss, RMs,
                                           RVs, step_keys, out_code, loss_code, loss_p)  # fmt: skip
            if gen < 0:
                return -1
        else:
            for b in range(k0, k1):
                s0, s1 = (m * b) // K, (m * (b + 1)) // K
                g, goff = (grad, 0) if b == 0 else (grad_others[b - 1], R)
                shared[b] = _forward_backward(w, rows[s0:s1], m, s0, s1, wsum, first, Ws, bs,
                                              g, goff, starts, stops, ends, As, Zs, dZ_a, dZ_b,
                                              Xb, Yb, losses, acts, aps, Ds, Ms, rates,
                                              step_keys, out_code, loss_code,
                                              loss_p)  # fmt: skip
        gen += 1
        if not barrier(sync, n_threads, gen):
            return -1
        c = params.dtype.type(l2)
        others = grad_others[: K - 1]  # (a tail batch may have fewer blocks)
        for u in range(v0, v1):  # the first layer's units: their gradient over all rows
            a0, a1 = (n0 * u) // U, (n0 * (u + 1)) // U
            f0, f1 = starts[0] + a0 * n_in, starts[0] + a1 * n_in
            e0, e1 = stops[0] + a0, stops[0] + a1
            _first_backward(K, m, a0, a1, n0, n_in, L, grad, f0, e0, dZ_a, dZ_b, Xb,
                            scratch[tid])  # fmt: skip
            piece = shared[BLOCKS + u * slot : BLOCKS + (u + 1) * slot]
            piece[:] = 0.0
            if l2:
                piece[L + 1] = sum_squares(params[f0:f1])
            sq, chk = _combine(grad, others[:0], 0, f0, f1, params[f0:f1] if l2 else no_w, c)
            sq_b, chk_b = _combine(grad, others[:0], 0, e0, e1, no_w, c)
            piece[0] = sq
            piece[L] = chk + chk_b
            piece[L + 2] = sq + sq_b
        for ci in range(c0, c1):  # this thread's chunks of the rest: Σ of the blocks
            q0, q1 = _chunk(R, P, ci)
            piece = shared[BLOCKS + (U + ci) * slot : BLOCKS + (U + ci + 1) * slot]
            piece[:] = 0.0
            for l in range(first, L):
                lo, hi = max(starts[l], q0), min(stops[l], q1)
                if hi > lo:
                    if l2:
                        piece[L + 1] += sum_squares(params[lo:hi])
                    sq, chk = _combine(grad, others, R, lo, hi, params[lo:hi] if l2 else no_w, c)
                    piece[l] = sq
                    piece[L] += chk
                    piece[L + 2] += sq
                lo, hi = max(stops[l], q0), min(ends[l], q1)
                if hi > lo:
                    sq, chk = _combine(grad, others, R, lo, hi, no_w, c)
                    piece[L] += chk
                    piece[L + 2] += sq
        gen += 1
        if not barrier(sync, n_threads, gen):
            return -1
        total, check, sq_all, sq_grad = 0.0, 0.0, 0.0, 0.0
        for b in range(K):
            total += shared[b]
        for p in range(U + BLOCKS):
            check += shared[BLOCKS + p * slot + L]
            sq_all += shared[BLOCKS + p * slot + L + 1]
            sq_grad += shared[BLOCKS + p * slot + L + 2]
        cost = total / wsum + (0.5 * l2 * sq_all if l2 else 0.0)
        if not (np.isfinite(cost) and check == 0):
            if tid == 0:
                cost_sum[1] = cost
                counts[0] = t0 + taken
                counts[2] = forwards
            return step
        if tid == 0:
            for l in range(L):
                sq = 0.0
                for p in range(U + BLOCKS):
                    sq += shared[BLOCKS + p * slot + l]
                norms[l] += np.sqrt(sq)
        taken += 1
        gnorm = np.sqrt(sq_grad)
        for j in range(2 * (v1 - v0) + (c1 - c0)):  # this thread's parameters, piece by piece
            if j < 2 * (v1 - v0):
                u = v0 + j // 2
                a0, a1 = (n0 * u) // U, (n0 * (u + 1)) // U
                if j % 2 == 0:
                    q0, q1 = starts[0] + a0 * n_in, starts[0] + a1 * n_in
                else:
                    q0, q1 = stops[0] + a0, stops[0] + a1
            else:
                q0, q1 = _chunk(R, P, c0 + j - 2 * (v1 - v0))
            g = grad[q0:q1]
            if clip_norm > 0 and gnorm > clip_norm:
                scale(g, g.dtype.type(clip_norm / gnorm))
            optimizer_step(params[q0:q1], g, opt_code, t0 + taken, lr, h, state0[q0:q1],
                            state1[q0:q1], state2[q0:q1])  # fmt: skip
        gen += 1
        if not barrier(sync, n_threads, gen):  # every share updated before the next forward
            return -1
        if tid == 0:
            cost_sum[0] += cost * wsum
            counts[1] += 1
    if tid == 0:
        counts[0] = t0 + taken
        counts[2] = forwards
    return n_steps


@_jit
def _chunk(R: int, P: int, ci: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """Bounds of chunk ``ci`` of the parameters ``R:P`` (:data:`BLOCKS` chunks, cut at
    multiples of 16 entries)."""
    q0 = R + ((P - R) * ci // BLOCKS) // 16 * 16
    q1 = P if ci == BLOCKS - 1 else R + ((P - R) * (ci + 1) // BLOCKS) // 16 * 16
    return q0, q1


@_jit
def _combine(  # pragma: no cover - compiled
    grad: Any, others: Any, off: int, lo: int, hi: int, W: Any, c: Any
) -> tuple[float, float]:  # fmt: skip
    """``grad[lo:hi] += Σ_k others[k, lo - off:hi - off]`` in the order of ``k``
    (``+ c W``); returns ``Σ grad²`` (float64) and
    ``Σ (grad - grad)`` (0, or NaN for a non-finite entry) of the result. Separate simple
    loops, each vectorized (one loop doing it all is four times slower)."""
    g = grad[lo:hi]
    for k in range(others.shape[0]):
        o = others[k, lo - off : hi - off]
        for i in range(g.size):
            g[i] += o[i]
    if W.size > 0:
        for i in range(g.size):
            g[i] += c * W[i]
    return sum_squares(g), float(nonfinite_check(g))


@_jit
def _gather(X: Any, Y: Any, rows: Any, r0: int, Xb: Any, Yb: Any) -> None:  # pragma: no cover
    """``Xb[r0 + i] = X[rows[i]]``, ``Yb[r0 + i] = Y[rows[i]]``: this thread's rows."""
    for i in range(rows.size):
        r = rows[i]
        for j in range(X.shape[1]):
            Xb[r0 + i, j] = X[r, j]
        for j in range(Y.shape[1]):
            Yb[r0 + i, j] = Y[r, j]


@_jit
def _first_forward(  # pragma: no cover - compiled
    Xb: Any, W: Any, b: Any, u0: int, u1: int, scratch: Any, A: Any, Zk: Any, code: int,
    p: float,
) -> None:  # fmt: skip
    """``Z[:, u0:u1] = Xb W[u0:u1]ᵀ + b[u0:u1]``, ``A[:, u0:u1] = g(Z[:, u0:u1])``: this
    thread's units of the first layer over all the batch's rows (each thread then reads
    only its share of ``W[1]``)."""
    m, nu = Xb.shape[0], u1 - u0
    Z = scratch[: m * nu].reshape(m, nu)
    np.dot(Xb, W[u0:u1].T, Z)
    add_bias(Z, b[u0:u1])
    for i in range(m):
        for j in range(nu):
            Zk[i, u0 + j] = Z[i, j]
    activate(Z, Z, code, p)
    for i in range(m):
        for j in range(nu):
            A[i, u0 + j] = Z[i, j]


@_jit
def _forward_backward(  # pragma: no cover - compiled
    w: Any, rows: Any, m: int, r0: int, r1: int, wsum: float, first: int,
    Ws: Any, bs: Any, g: Any, goff: int, starts: Any, stops: Any, ends: Any, As: Any,
    Zs: Any, dZ_a: Any, dZ_b: Any, Xb: Any, Yb: Any, losses: Any, acts: Any, aps: Any,
    Ds: Any, Ms: Any, rates: Any, keys: Any, out_code: int, loss_code: int, loss_p: float,
) -> float:  # fmt: skip
    """Rows ``r0:r1`` of one batch: the forward pass from layer ``first`` (the first
    layer's activations are ready when ``first`` is 1), the loss (returns ``Σ w_i L_i``),
    and the backward pass with ``dW``, ``db`` of these rows into the flat gradient ``g``
    (parameter ``i`` at ``g[i - goff]``) for the layers from ``first`` up, and the errors ``dZ`` of these rows down to the first
    layer's. No batch norm (:func:`deltaprop.fast.layered.layered_forward_backward`)."""
    L = len(Ws)
    Xt, Yt = Xb[r0:r1], Yb[r0:r1]
    nt = r1 - r0
    weighted = w.size > 0
    # forward: Z = A_prev Wᵀ + b, A = g(Z)
    A = Xt if first == 0 else As[first - 1][r0:r1]
    if first == 1 and rates[0] > 0:
        dropout(A, Ds[0][r0:r1], Ms[0][r0:r1], keys[0], r0, rates[0])
        A = Ds[0][r0:r1]
    col = 1 if first == 1 and rates[0] > 0 else 0  # this layer's key in keys
    for l in range(first, L):
        Z = Zs[l][r0:r1]
        np.dot(A, Ws[l].T, Z)
        add_bias(Z, bs[l])
        if l < L - 1:
            A = As[l][r0:r1]
            activate(Z, A, acts[l], aps[l])
            if rates[l] > 0:  # dropout: Ds[l] = A ⊙ mask, the next layer's input
                dropout(A, Ds[l][r0:r1], Ms[l][r0:r1], keys[col], r0, rates[l])
                A = Ds[l][r0:r1]
                col += 1
    # dZ_a, dZ_b: each thread's rows in its own region (r0 · widest onwards), whatever the
    # width of the layer, so that the threads never write into each other's rows
    base = r0 * (dZ_a.size // m)
    n_out = As[L - 1].shape[1]
    dZ = dZ_a[base : base + nt * n_out].reshape(nt, n_out)
    lt = losses[r0:r1]
    if out_code >= 0:  # a fused pair: from the logits, dZ[L] = A - Y
        fused_output(Zs[L - 1][r0:r1], Yt, dZ, lt, out_code)
    else:  # the general chain rule: the loss's kernel and the output activation's
        general_output(Zs[L - 1][r0:r1], As[L - 1][r0:r1], Yt, dZ, lt, acts[L - 1],
                       aps[L - 1], loss_code, loss_p)  # fmt: skip
    total = 0.0
    for i in range(nt):
        total += lt[i] * w[rows[i]] if weighted else lt[i]
    # The seeds' "/ m" of dW and db, applied once to the output error instead (the
    # backward pass is linear in it): dZ[L] ← s_i dZ[L] with s_i = 1/m, or w_i / Σw
    # with sample weights (the weighted mean of Network.backward).
    inv = dZ.dtype.type(1.0 / wsum)
    for i in range(nt):
        s = w[rows[i]] * inv if weighted else inv
        for j in range(n_out):
            dZ[i, j] *= s
    # backward: dW = dZᵀ A_prev, db = Σ dZ, dA_prev = dZ W, dZ[l-1] = dA_prev ⊙ g'
    for l in range(L - 1, first - 1, -1):
        A_prev = Xt if l == 0 else Ds[l - 1][r0:r1]
        gW = g[starts[l] - goff : stops[l] - goff].reshape(Ws[l].shape[0], Ws[l].shape[1])
        np.dot(dZ.T, A_prev, gW)
        column_sums(dZ, g[stops[l] - goff : ends[l] - goff])
        if l > 0:
            free = dZ_b if (L - 1 - l) % 2 == 0 else dZ_a  # the buffer dZ is not in
            n_prev = A_prev.shape[1]
            dA = free[base : base + nt * n_prev].reshape(nt, n_prev)
            np.dot(dZ, Ws[l], dA)
            if rates[l - 1] > 0:  # through the dropout: dA ⊙ mask
                times(dA, Ms[l - 1][r0:r1])
            activation_backward(dA, Zs[l - 1][r0:r1], As[l - 1][r0:r1], acts[l - 1],
                                aps[l - 1])  # fmt: skip
            dZ = dA
    return total


@_jit
def _first_backward(  # pragma: no cover - compiled
    n_blocks: int, m: int, u0: int, u1: int, n0: int, n_in: int, L: int,
    grad: Any, lo: int, b0: int, dZ_a: Any, dZ_b: Any, Xb: Any, scratch: Any,
) -> None:  # fmt: skip
    """``dW[1]``, ``db[1]`` of the units ``u0:u1`` over all the batch's rows (``dZ[1]`` in
    ``n_blocks`` blocks of rows),
    straight into ``grad`` (weights from ``lo``, biases from ``b0``): split by units, the
    first layer's gradient needs no adding up across threads. ``b0`` is where this
    thread's first bias is."""
    nu = u1 - u0
    if nu == 0:
        return
    buf = dZ_a if (L - 1) % 2 == 0 else dZ_b  # dZ[1], each thread's rows in its region
    widest = dZ_a.size // m
    S = scratch[: m * nu].reshape(m, nu)
    for k in range(n_blocks):
        k0, k1 = (m * k) // n_blocks, (m * (k + 1)) // n_blocks
        block = buf[k0 * widest : k0 * widest + (k1 - k0) * n0].reshape(k1 - k0, n0)
        for i in range(k1 - k0):
            for j in range(nu):
                S[k0 + i, j] = block[i, u0 + j]
    np.dot(S.T, Xb, grad[lo : lo + nu * n_in].reshape(nu, n_in))
    column_sums(S, grad[b0 : b0 + nu])
