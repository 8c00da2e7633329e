"""The mini-batch fit of a :class:`~deltaprop.train.trainer.Trainer` (every optimizer but
L-BFGS): the epochs, compiled where :class:`~deltaprop.fast.CompiledLoop` applies, else in
Python. The compiled loop runs an epoch in a few calls; a batch per call, with Python
between batches, where a callback watches single batches or the gradient is allreduced
over MPI ranks (:func:`_compiled_batches`). The trainer is typed ``Any`` here so that this module does not import the loop's.

The learning rate of a step is ``trainer.optimizer.learning_rate`` as the hooks leave it:
the schedule sets it before ``on_epoch_begin``, which may change it (Keras's
``LearningRateScheduler``), and so may ``on_batch_begin`` before each batch; both loops
read it then (:func:`step_rate`), and the history records the rate of the epoch's last step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.fast import CompiledLoop, blas_threads
from deltaprop.optim import Optimizer, check_learning_rate
from deltaprop.train.batches import (
    BatchGather,
    GradStats,
    check_batch_norm_batches,
    effective_batch_size,
)
from deltaprop.train.callbacks import Callback, watches_batches
from deltaprop.train.distributed import allreduce_gradient, distributed_backward, share_backward
from deltaprop.train.progress import epoch_in_parts, progress_reporter
from deltaprop.train.stopping import exploded

__all__ = ["batch_step", "close_epoch", "fit_sgd", "mark_complete", "step_rate"]


def step_rate(self: Any) -> float:
    """The learning rate the next step takes: ``self.optimizer.learning_rate`` as the
    callbacks left it, checked (a ``ValueError`` naming the value set) and kept in
    ``self.step_learning_rate``, the rate :func:`close_epoch` records."""
    lr = check_learning_rate(
        self.optimizer.learning_rate, allow_zero=True, name="optimizer.learning_rate"
    )
    self.step_learning_rate = lr
    return lr


def fit_sgd(
    self: Any, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, Xv: Any, Yv: Any, wv: Any,
    callbacks: list[Callback],
) -> None:  # fmt: skip
    """Train ``self`` (the trainer) for up to its ``epochs`` epochs of mini-batches."""
    n = X.shape[0]
    ranks = 1 if self.communicator is None else self.communicator.size
    check_batch_norm_batches(self.net, self.batch_size, n, ranks)
    bs = effective_batch_size(self.batch_size, n)
    fast = CompiledLoop.create(
        self.net, self.optimizer, X, Y, w, self.alpha, self.clip_norm,
        self.communicator, watches_batches=watches_batches(callbacks),
    )  # fmt: skip
    self.engine = "python" if fast is None else "compiled"  # which loop the last fit ran
    # the Python loop with BLAS on one thread: the bits of BLAS's threads depend on the core
    # count (the compiled loop splits each batch into row blocks of its own instead)
    with blas_threads(1) if fast is None else fast.threads(bs):
        _sgd_epochs(self, X, Y, w, Xv, Yv, wv, callbacks, fast, bs)


def _sgd_epochs(
    self: Any, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, Xv: Any, Yv: Any, wv: Any,
    callbacks: list[Callback], fast: CompiledLoop | None, bs: int,
) -> None:  # fmt: skip
    """The epochs of mini-batch training: compiled where ``fast``, else in Python."""
    net, opt = self.net, self.optimizer
    assert isinstance(opt, Optimizer)
    n = X.shape[0]
    last_good = net.parameters.copy()
    last_buffers = {k: v.copy() for k, v in net.buffers()}
    self.last_complete = (last_good, last_buffers)  # what an interrupt puts back
    mark_complete(self)
    n_dense = net.n_layers
    gather = BatchGather(X, Y)
    stats = GradStats(net)
    report = progress_reporter(self, callbacks, n)  # inside epochs: None unless watched
    by_batch = fast is not None and (self.communicator is not None or watches_batches(callbacks))
    for _ in range(self.epochs):
        lr = self.schedule(self.epoch, self.learning_rate, self.samples_seen)
        opt.learning_rate = lr
        for cb in callbacks:
            cb.on_epoch_begin(self, self.epoch, {"learning_rate": lr})
        lr = step_rate(self)  # as the epoch's hooks leave it
        order = self.rng.permutation(n) if self.shuffle else None
        norms = np.zeros(n_dense)
        if fast is not None and by_batch:
            rows = order if order is not None else np.arange(n)
            total, n_batches = _compiled_batches(
                self, w, rows, bs, norms, fast, callbacks, report, last_good, last_buffers
            )  # fmt: skip
        elif fast is not None:
            rows = order if order is not None else np.arange(n)
            total, n_batches, seen, bad = epoch_in_parts(fast, rows, bs, lr, norms, report)
            self.samples_seen += seen
            if bad is not None:
                self._diverged(self.epoch, bad, last_good, last_buffers)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                total, n_batches = _python_epoch(
                    self, X, Y, w, order, bs, norms, stats, gather, last_good, last_buffers,
                    callbacks, report,
                )  # fmt: skip
        wtotal = n if w is None else float(w.sum())
        if close_epoch(self, total / wtotal, n_batches, norms, self.step_learning_rate,
                       last_good, last_buffers, Xv, Yv, wv, callbacks):  # fmt: skip
            break


def mark_complete(self: Any) -> None:
    """Keep what an epoch changes beyond the weights (the optimizer's state, the generator,
    the samples seen) as it stands after the last complete one: an interrupt puts it back
    with the weights (``last_complete``), so that a fit that goes on continues exactly."""
    self.last_state = (self.optimizer.state_dict(), self.rng.bit_generator.state,
                       self.samples_seen)  # fmt: skip


def close_epoch(
    self: Any, epoch_loss: float, n_batches: int, norms: np.ndarray, lr: float,
    last_good: np.ndarray, last_buffers: dict[str, np.ndarray], Xv: Any, Yv: Any, wv: Any,
    callbacks: list[Callback],
) -> bool:  # fmt: skip
    """After an epoch's batches: the divergence policy, the last good weights, the history
    (``lr``: the rate the epoch's last step took) and
    :meth:`~deltaprop.train.trainer.Trainer._end_epoch`; True to stop."""
    net = self.net
    if (
        not np.isfinite(net.parameters).all()
        or not math.isfinite(epoch_loss)
        or exploded(epoch_loss, self.baselines, self.divergence_factor)
    ):
        self._diverged(self.epoch, epoch_loss, last_good, last_buffers)
    last_good[...] = net.parameters
    for k, v in net.buffers():
        last_buffers[k][...] = v
    mark_complete(self)
    self.history.learning_rate.append(lr)
    self.history.grad_norms.append([float(x) for x in norms / max(n_batches, 1)])
    return bool(self._end_epoch(epoch_loss, Xv, Yv, wv, callbacks))


def _python_epoch(
    self: Any, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, order: np.ndarray | None,
    bs: int, norms: np.ndarray, stats: GradStats, gather: BatchGather,
    last_good: np.ndarray, last_buffers: dict[str, np.ndarray], callbacks: list[Callback],
    report: Any = None,
) -> tuple[float, int]:  # fmt: skip
    """One epoch of the Python loop; returns ``(Σ cost · Σw, batches taken)``."""
    n = X.shape[0]
    total = 0.0
    n_batches = 0
    for b, start in enumerate(range(0, n, bs)):
        sl = slice(start, min(start + bs, n))
        if order is None:
            Xb, Yb, wb = X[sl], Y[sl], (None if w is None else w[sl])
        else:
            idx = order[sl]
            Xb, Yb = gather(idx)
            wb = None if w is None else w.take(idx)
        m = Xb.shape[0]
        wsum = m if wb is None else float(wb.sum())
        if wsum <= 0:
            continue
        cost = batch_step(self, b, Xb, Yb, wb, m, wsum, stats, norms, last_good,
                          last_buffers, callbacks)  # fmt: skip
        total += cost * wsum
        n_batches += 1
        if report is not None:
            report(sl.stop)
    return total, n_batches


def batch_step(
    self: Any, b: int, Xb: np.ndarray, Yb: np.ndarray, wb: np.ndarray | None, m: int,
    wsum: float, stats: GradStats, norms: np.ndarray, last_good: np.ndarray,
    last_buffers: dict[str, np.ndarray], callbacks: list[Callback], *, shared: bool = False,
) -> float:  # fmt: skip
    """One step on batch ``b`` of ``m`` rows of weight ``wsum``: the callbacks, the backward
    pass (on one process; else this rank's share, cut here, or, with ``shared``, already
    ``Xb`` itself, and the allreduce), the gradient norms and the finiteness check,
    clipping and the optimizer step; returns the batch's cost."""
    net, opt, comm = self.net, self.optimizer, self.communicator
    for cb in callbacks:
        cb.on_batch_begin(self, b, {"batch_size": m})
    step_rate(self)  # the step below reads opt.learning_rate, checked here
    if comm is None:
        cost = net.backward(Xb, Yb, wb, training=True, alpha=self.alpha, reuse_buffers=True)
    elif shared:
        cost = share_backward(net, Xb, Yb, wb, wsum, self.alpha, comm)
    else:
        cost = distributed_backward(net, Xb, Yb, wb, wsum, self.alpha, comm)
    finite = stats.dW_norms_into(norms)  # before clipping, as ever
    if not math.isfinite(cost) or not finite:
        self._diverged(self.epoch, cost, last_good, last_buffers)
    if self.clip_norm is not None:
        gnorm = float(np.sqrt(np.dot(net.grad, net.grad)))
        if gnorm > self.clip_norm:
            net.grad *= self.clip_norm / gnorm
    opt.step(net.parameters, net.grad)
    self.samples_seen += m
    for cb in callbacks:
        cb.on_batch_end(self, b, {"loss": cost, "batch_size": m})
    return cost


def _compiled_batches(
    self: Any, w: np.ndarray | None, rows: np.ndarray, bs: int, norms: np.ndarray,
    fast: CompiledLoop, callbacks: list[Callback], report: Any, last_good: np.ndarray,
    last_buffers: dict[str, np.ndarray],
) -> tuple[float, int]:  # fmt: skip
    """One epoch of the compiled loop, a batch per call (``rows``: the epoch's order), with
    the batch hooks between calls as the Python loop calls them; under MPI each step is
    this rank's share (compiled), the allreduce, then the update (compiled). Returns
    ``(Σ cost · Σw, batches taken)``."""
    net, comm = self.net, self.communicator
    n = rows.size
    total, n_batches = 0.0, 0
    for b, start in enumerate(range(0, n, bs)):
        batch = rows[start : start + bs]
        m = batch.size
        wsum = m if w is None else float(w[batch].sum())
        if wsum <= 0:
            continue
        for cb in callbacks:
            cb.on_batch_begin(self, b, {"batch_size": m})
        lr = step_rate(self)
        if comm is None:
            weighted, _, _, bad = fast.epoch(batch, m, lr, norms)
            if bad is not None:
                self._diverged(self.epoch, bad, last_good, last_buffers)
            cost = weighted / wsum
        else:
            share = fast.share_step(batch[comm.split(m)], wsum, self.alpha / comm.size)
            cost = allreduce_gradient(net.grad, share, comm)
            if not math.isfinite(cost) or not fast.apply_step(lr, norms):
                self._diverged(self.epoch, cost, last_good, last_buffers)
            weighted = cost * wsum
        total += weighted
        n_batches += 1
        self.samples_seen += m
        for cb in callbacks:
            cb.on_batch_end(self, b, {"loss": cost, "batch_size": m})
        if report is not None:
            report(start + m)
    return total, n_batches
