"""The L-BFGS fit of a :class:`~deltaprop.train.trainer.Trainer`: the whole objective and its
gradient handed to SciPy's minimizer, each iteration recorded as an epoch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.fast import blas_threads
from deltaprop.optim import LBFGS
from deltaprop.train.batches import check_batch_norm_batches
from deltaprop.train.callbacks import Callback
from deltaprop.train.stopping import StopRecord

__all__ = ["fit_lbfgs", "lbfgs_stop"]


def fit_lbfgs(
    trainer: Any, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, Xv: Any, Yv: Any,
    wv: Any, callbacks: list[Callback],
) -> None:  # fmt: skip
    """Full-batch training by L-BFGS, one history entry per iteration.

    ``trainer`` (a :class:`~deltaprop.train.trainer.Trainer`, typed ``Any`` so that this
    module does not import the loop's) supplies the network, the optimizer (an :class:`~deltaprop.optim.LBFGS`),
    ``alpha`` and the epoch bookkeeping; the result is kept in ``trainer.lbfgs_result``
    and why it ended in ``trainer.solver_stop`` (:func:`lbfgs_stop`).

    An epoch begins (``on_epoch_begin``) at the first evaluation of an iteration and ends
    (``on_epoch_end``) when SciPy reports the iteration done, so that begins and ends pair
    as in Keras: none is begun after the last iteration. Evaluations that end without an
    iteration (a line search that failed, SciPy's weights left at the last iterate) are
    one more epoch, ended at the final weights.
    """
    self = trainer
    net, opt = self.net, self.optimizer
    assert isinstance(opt, LBFGS)
    check_batch_norm_batches(net, None, X.shape[0])  # one batch, of every row
    last = {"cost": math.nan}
    running = [False]  # an epoch begun and not yet ended

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        if not running[0]:  # the first evaluation of an iteration begins its epoch
            running[0] = True
            for cb in callbacks:
                cb.on_epoch_begin(self, self.epoch, {"learning_rate": math.nan})
        net.parameters[...] = theta
        # BLAS on one thread: its threads split the products by the core count, and their
        # sums round by it (the same seed, other bits on another machine or under joblib)
        with np.errstate(over="ignore", invalid="ignore"), blas_threads(1):
            cost = net.backward(X, Y, w, training=True, alpha=self.alpha)
        last["cost"] = cost
        return cost, net.grad.astype(np.float64)

    def end(cost: float) -> bool:
        running[0] = False
        layer_norms = [math.sqrt(float(np.vdot(d.grads["W"], d.grads["W"]))) for d in net.dense]
        self.history.learning_rate.append(math.nan)
        self.history.grad_norms.append(layer_norms)
        return bool(self._end_epoch(cost, Xv, Yv, wv, callbacks, convergence=False))

    def callback(intermediate_result: Any = None) -> None:
        if end(float(getattr(intermediate_result, "fun", last["cost"]))):
            raise StopIteration

    x0 = net.parameters.astype(np.float64)
    start = self.epoch
    result = opt.minimize(fun, x0, callback=callback)
    if not np.isfinite(result.x).all() or not math.isfinite(float(result.fun)):
        self._diverged(self.epoch, float(result.fun), x0.astype(net.dtype), {})
    net.parameters[...] = result.x
    net.backward(X, Y, w, training=True, alpha=self.alpha)  # leave the grads of the final weights
    if running[0]:  # evaluations after the last iteration (a failed line search): an epoch
        end(float(result.fun))
    self.samples_seen += X.shape[0] * int(result.nit)
    self.lbfgs_result = result
    self.solver_stop = lbfgs_stop(result, self.epoch, start, opt)


def lbfgs_stop(result: Any, epoch: int, start: int, opt: LBFGS) -> StopRecord:
    """Why SciPy's L-BFGS-B ended, from its ``result`` (``status`` 0: converged, by the
    projected gradient or the relative reduction of the loss; 1: a limit, of iterations
    or of loss evaluations; 2: an abnormal end, such as a line search that failed).

    Parameters
    ----------
    result : scipy.optimize.OptimizeResult
    epoch : int
        The epoch (1-based, over all fits) after which the fit ended.
    start : int
        The epoch the fit started after.
    opt : LBFGS
        The settings in force (its ``max_iter`` and ``tol``).
    """
    nit, message = int(result.nit), str(result.message)
    if int(result.status) == 0:
        detail = "gtol" if "GRADIENT" in message.upper() else "ftol"
        return StopRecord("converged", epoch, count=nit, tol=opt.tol, detail=detail)
    if int(result.status) == 1 and nit >= opt.max_iter:
        return StopRecord("epochs", epoch, limit=opt.max_iter, start=start)
    return StopRecord("solver", epoch, count=nit, tol=opt.tol, detail=message.lower())
