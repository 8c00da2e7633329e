"""The complete training loop, :class:`Trainer`.

Mini-batches, shuffling, an optimizer and a learning-rate schedule, L2, gradient clipping,
class and sample weights, validation, early stopping with the best weights restored,
callbacks, a progress bar, divergence detection, and resumption (a second
:meth:`Trainer.fit` continues from the current weights and optimizer state). The pieces
it composes live beside it: :mod:`~deltaprop.train.defaults` (its defaults),
:mod:`~deltaprop.train.batches`, :mod:`~deltaprop.train.splits`,
:mod:`~deltaprop.train.weights`, :mod:`~deltaprop.train.scores`,
:mod:`~deltaprop.train.callbacks`, :mod:`~deltaprop.train.progress` and
:mod:`~deltaprop.train.distributed`; :func:`~deltaprop.train.descent.gradient_descent` is
the seeds' loop.

The objective a :class:`Trainer` minimises on a mini-batch ``B`` is scikit-learn's::

    J_B = Σ_{i∈B} w_i L_i / Σ_{i∈B} w_i  +  α / (2 Σ_{i∈B} w_i) · Σ_l ‖W[l]‖²_F

(``w_i`` = sample weight × class weight, 1 by default; biases are not penalised).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.core import Network
from deltaprop.fast import CompiledLoop
from deltaprop.optim import (
    LBFGS,
    Optimizer,
    ReduceOnPlateau,
    Schedule,
    check_learning_rate,
    get_optimizer,
    schedule_for_epochs,
)
from deltaprop.parallel import Communicator
from deltaprop.train.batches import BatchGather, GradStats, effective_batch_size
from deltaprop.train.callbacks import Callback, History, watches_batches
from deltaprop.train.checks import _check_settings
from deltaprop.train.defaults import TRAINER_DEFAULTS as D
from deltaprop.train.distributed import distributed_backward
from deltaprop.train.errors import DivergenceError
from deltaprop.train.lbfgs import fit_lbfgs
from deltaprop.train.progress import ProgressBar
from deltaprop.train.scores import CLASSIFICATION_LOSSES, ScoreFn, accuracy_score, r2_score
from deltaprop.train.splits import check_validation_data, validation_split
from deltaprop.train.state import _load_state_dict, _state_dict
from deltaprop.train.weights import class_weights

__all__ = ["Trainer"]


class Trainer:
    """Mini-batch training of a :class:`~deltaprop.core.network.Network`.

    Parameters
    ----------
    net : Network
        Trained in place.
    optimizer : str or Optimizer, default="adam"
        A name from :data:`deltaprop.optim.optimizers.OPTIMIZERS` (``"sgd"``, ``"momentum"``,
        ``"nesterov"``, ``"rmsprop"``, ``"adam"``, ``"adamw"``, ``"lbfgs"``) or an instance.
    learning_rate : float, default=1e-3
        Initial learning rate (ignored by L-BFGS).
    schedule : str or Schedule, default="constant"
        ``"constant"``, ``"step"`` (÷10 every ``epochs // 3`` epochs), ``"exponential"``
        (to 1% over ``epochs``), ``"cosine"`` (to 0 over ``epochs``), ``"invscaling"``,
        ``"plateau"`` (scikit-learn's ``"adaptive"``), or an instance from
        :mod:`deltaprop.optim.schedules` for other settings. A name gets its settings for
        ``epochs`` from :func:`deltaprop.optim.schedule_for_epochs`.
    batch_size : int or None, default=200
        Mini-batch size, clipped to the number of samples; ``None`` for full batches. The
        last partial batch is included.
    epochs : int, default=200
        Maximum number of epochs per :meth:`fit` (iterations for L-BFGS).
    shuffle : bool, default=True
        Reshuffle the samples each epoch, from ``seed``.
    tol : float, default=1e-4
    n_iter_no_change : int, default=10
        Stop when the monitored quantity (training loss, or the validation metric with
        ``early_stopping``) has not improved by ``tol`` for more than this many epochs.
    alpha : float, default=0.0
        L2 coefficient in the objective above.
    clip_norm : float or None, default=None
        Rescale the gradient when its global L2 norm exceeds this.
    validation_fraction : float or None, default=None
        Hold out this fraction of the training data for validation (stratified for
        classification) unless ``validation_data`` is given to :meth:`fit`.
    early_stopping : bool, default=False
        Stop on the validation metric and restore the best weights at the end.
    monitor : {"val_loss", "val_score"}, default="val_loss"
        The validation metric that early stopping watches.
    score : callable or None, default=None
        ``score(net, X, Y, sample_weight) -> float``, higher is better; defaults to
        accuracy for cross-entropy losses and R² otherwise.
    class_weight : dict, "balanced" or None, default=None
        Weights per class index (the column of a one-hot ``Y``, or 0/1 for a single
        sigmoid output), multiplied into the sample weights.
    callbacks : sequence of Callback, default=()
    verbose : bool, default=False
        Show a progress bar.
    seed : int, Generator or None, default=None
        Shuffling and the validation split.
    communicator : Communicator or None, default=None
        Data parallelism (:mod:`deltaprop.parallel`): every rank holds the same data and
        seed, so all draw the same global batches; each computes the gradient of its share
        and one allreduce sums them. Batch statistics of batch normalization stay local.

    Examples
    --------
    >>> import numpy as np
    >>> from deltaprop import Network, Trainer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] * X[:, 1] > 0).astype(float)
    >>> net = Network([2, 16, 1], "tanh", "binary_crossentropy", seed=0)
    >>> history = Trainer(net, "adam", learning_rate=0.01, batch_size=32, epochs=100, seed=0).fit(X, y)
    >>> history.loss[-1] < history.loss[0]
    True
    """

    def __init__(
        self,
        net: Network,
        optimizer: str | Optimizer | LBFGS = D.optimizer,
        learning_rate: float = D.learning_rate,
        schedule: str | Schedule = D.schedule,
        batch_size: int | None = D.batch_size,
        epochs: int = D.epochs,
        shuffle: bool = D.shuffle,
        tol: float = D.tol,
        n_iter_no_change: int = D.n_iter_no_change,
        alpha: float = D.alpha,
        clip_norm: float | None = D.clip_norm,
        validation_fraction: float | None = D.validation_fraction,
        early_stopping: bool = D.early_stopping,
        monitor: str = D.monitor,
        score: ScoreFn | None = None,
        class_weight: dict[int, float] | str | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: bool = D.verbose,
        seed: int | np.random.Generator | None = None,
        communicator: Communicator | None = None,
    ) -> None:
        self.net = net
        self.communicator = communicator
        self.learning_rate = check_learning_rate(learning_rate)
        if isinstance(optimizer, str) and optimizer != "lbfgs":
            self.optimizer: Optimizer | LBFGS = get_optimizer(
                optimizer, learning_rate=self.learning_rate
            )
        elif isinstance(optimizer, str):
            self.optimizer = LBFGS(max_iter=epochs, tol=tol)
        else:
            self.optimizer = optimizer
        self.schedule = schedule_for_epochs(schedule, epochs)
        _check_settings(
            batch_size,
            epochs,
            n_iter_no_change,
            tol,
            alpha,
            clip_norm,
            validation_fraction,
            monitor,
            class_weight,
        )
        self.batch_size = batch_size
        self.epochs = int(epochs)
        self.shuffle = bool(shuffle)
        self.tol = float(tol)
        self.n_iter_no_change = int(n_iter_no_change)
        self.alpha = float(alpha)
        self.clip_norm = clip_norm
        self.validation_fraction = validation_fraction
        self.early_stopping = bool(early_stopping)
        self.monitor = monitor
        self.classification = net.loss.name in CLASSIFICATION_LOSSES
        self.score_fn: ScoreFn = score or (accuracy_score if self.classification else r2_score)
        self.class_weight = class_weight
        self.callbacks = list(callbacks)
        self.verbose = bool(verbose)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        # Drawn once, so that every fit (and a resumed run) holds out the same rows.
        self.split_seed = int(self.rng.integers(2**31 - 1))

        self.history = History()
        self.epoch = 0  # epochs done over all fits
        self.samples_seen = 0  # scikit-learn's t_
        self.stop_training = False
        self.best_metric = math.inf  # lower is better (loss, or minus the score)
        self.best_parameters: np.ndarray | None = None
        self.best_buffers: dict[str, np.ndarray] | None = None
        self.best_epoch: int | None = None
        self.no_improvement = 0
        self.converged = False

    # ------------------------------------------------------------------ helpers
    def _validate(
        self, Xv: np.ndarray, Yv: np.ndarray, wv: np.ndarray | None
    ) -> tuple[float, float]:
        loss = self.net.cost(Xv, Yv, wv, training=False, l2=0.0, check=False)
        return loss, self.score_fn(self.net, Xv, Yv, wv)

    def best_state(self) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        """The best weights so far (by the early-stopping metric), or ``None`` before any.

        Returns
        -------
        (parameters, buffers) or None
            The flat parameters (shape ``(n_params,)``) and the batch-norm running
            statistics by name, as kept by the trainer (not copies).
        """
        if self.best_parameters is None:
            return None
        return self.best_parameters, self.best_buffers or {}

    def restore_best(self) -> bool:
        """Put the best weights so far back into the network; False (nothing done) before any.

        :meth:`fit` does this at its end with ``early_stopping``; after a
        :class:`~deltaprop.train.errors.DivergenceError` a caller can do it too.
        """
        if self.best_parameters is None:
            return False
        self.net.parameters[...] = self.best_parameters
        if self.best_buffers:
            self.net.set_buffers(self.best_buffers)
        return True

    def _snapshot_best(self) -> None:
        if self.best_parameters is None:
            self.best_parameters = self.net.parameters.copy()
        else:
            self.best_parameters[...] = self.net.parameters
        self.best_buffers = {k: v.copy() for k, v in self.net.buffers()}
        self.best_epoch = self.epoch

    def _diverged(
        self, epoch: int, value: float, last_good: np.ndarray, buffers: dict[str, np.ndarray]
    ) -> None:
        self.net.parameters[...] = last_good
        self.net.set_buffers(buffers)
        if isinstance(self.optimizer, Optimizer):
            self.optimizer.reset()
        raise DivergenceError(epoch=epoch + 1, loss=value, learning_rate=self.current_learning_rate)

    @property
    def current_learning_rate(self) -> float:
        return float(getattr(self.optimizer, "learning_rate", self.learning_rate))

    def _logs(self) -> dict[str, float]:
        h = self.history
        logs = {"loss": h.loss[-1], "learning_rate": h.learning_rate[-1]}
        if h.val_loss:
            logs["val_loss"] = h.val_loss[-1]
            logs["val_score"] = h.val_score[-1]
        return logs

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        Y: Any,
        sample_weight: Any = None,
        validation_data: tuple[Any, ...] | None = None,
    ) -> History:
        """Train for up to ``epochs`` epochs; a second call continues where this one ended.

        Parameters
        ----------
        X : array-like of shape (m, n_0)
        Y : array-like of shape (m, n_L)
        sample_weight : array-like of shape (m,), optional
        validation_data : tuple (X_val, Y_val) or (X_val, Y_val, w_val), optional
            Used instead of a ``validation_fraction`` split.

        Returns
        -------
        History
            The history over all fits so far.

        Raises
        ------
        DivergenceError
            If the loss becomes NaN or infinite; the network keeps the weights of the last
            finite epoch.
        """
        net = self.net
        X = net.check_X(X)
        Y = net.check_Y(Y, X.shape[0])
        w = net.check_sample_weight(sample_weight, X.shape[0])
        cw = class_weights(Y, w, self.class_weight, net.loss.name, net.dtype)
        if cw is not None:
            w = cw if w is None else w * cw
            if float(w.sum()) <= 0:
                raise ValueError("class_weight and sample_weight leave every sample with weight 0")
        Xv = Yv = wv = None
        if validation_data is not None:
            Xv, Yv, wv = check_validation_data(net, validation_data)
        elif self.validation_fraction is not None or self.early_stopping:
            if self.validation_fraction is None:
                self.validation_fraction = D.early_stopping_fraction
            X, Y, w, Xv, Yv, wv = validation_split(
                X, Y, w, self.validation_fraction, self.split_seed, net.loss.name
            )
        if self.early_stopping and Xv is None:
            raise ValueError(
                "early_stopping needs validation data (validation_fraction or validation_data)"
            )

        self.stop_training = False
        self.converged = False
        callbacks = list(self.callbacks)
        if self.verbose:
            callbacks.append(ProgressBar())
        for cb in callbacks:
            cb.on_train_begin(self)
        if isinstance(self.optimizer, LBFGS):
            fit_lbfgs(self, X, Y, w, Xv, Yv, wv, callbacks)
        else:
            self._fit_sgd(X, Y, w, Xv, Yv, wv, callbacks)
        if self.early_stopping:
            self.restore_best()
        for cb in callbacks:
            cb.on_train_end(self, {"epochs": self.epoch, "converged": self.converged})
        return self.history

    def _end_epoch(
        self, loss: float, Xv: Any, Yv: Any, wv: Any, callbacks: list[Callback],
        convergence: bool = True,
    ) -> bool:  # fmt: skip
        """Record the epoch, update early stopping and the schedule; True to stop.

        ``convergence=False`` (L-BFGS, which has its own tolerance) stops only when a
        callback asks to.
        """
        h = self.history
        h.loss.append(loss)
        if Xv is not None:
            vl, vs = self._validate(Xv, Yv, wv)
            h.val_loss.append(vl)
            h.val_score.append(vs)
        if self.early_stopping:
            metric = h.val_loss[-1] if self.monitor == "val_loss" else -h.val_score[-1]
        else:
            metric = loss
        if metric < self.best_metric - self.tol:
            self.no_improvement = 0
        else:
            self.no_improvement += 1
        if metric < self.best_metric:
            self.best_metric = metric
            if self.early_stopping:
                self._snapshot_best()
        self.epoch += 1
        plateau = isinstance(self.schedule, ReduceOnPlateau)
        self.schedule.on_epoch_end(metric)
        if isinstance(self.optimizer, Optimizer):  # the rate for the next epoch, known now
            self.optimizer.learning_rate = self.schedule(
                self.epoch, self.learning_rate, self.samples_seen
            )
        for cb in callbacks:
            cb.on_epoch_end(self, self.epoch - 1, self._logs())
        if self.stop_training:
            return True
        if not convergence:
            return False
        if plateau:
            if self.schedule.should_stop:
                self.converged = True
                return True
        elif self.no_improvement > self.n_iter_no_change:
            self.converged = True
            return True
        return False

    def _fit_sgd(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, Xv: Any, Yv: Any, wv: Any,
        callbacks: list[Callback],
    ) -> None:  # fmt: skip
        n = X.shape[0]
        bs = effective_batch_size(self.batch_size, n)
        fast = CompiledLoop.create(
            self.net, self.optimizer, X, Y, w, self.alpha, self.clip_norm, callbacks,
            self.communicator, watches_batches=watches_batches(callbacks),
        )  # fmt: skip
        with contextlib.nullcontext() if fast is None else fast.threads(bs):
            self._sgd_epochs(X, Y, w, Xv, Yv, wv, callbacks, fast, bs)

    def _sgd_epochs(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, Xv: Any, Yv: Any, wv: Any,
        callbacks: list[Callback], fast: CompiledLoop | None, bs: int,
    ) -> None:  # fmt: skip
        """The epochs of mini-batch training: compiled where ``fast``, else in Python."""
        net, opt = self.net, self.optimizer
        assert isinstance(opt, Optimizer)
        n = X.shape[0]
        last_good = net.parameters.copy()
        last_buffers = {k: v.copy() for k, v in net.buffers()}
        n_dense = net.n_layers
        gather = BatchGather(X, Y)
        stats = GradStats(net)
        for _ in range(self.epochs):
            lr = self.schedule(self.epoch, self.learning_rate, self.samples_seen)
            opt.learning_rate = lr
            order = self.rng.permutation(n) if self.shuffle else None
            norms = np.zeros(n_dense)
            if fast is not None:
                check_learning_rate(lr, allow_zero=True)
                rows = order if order is not None else np.arange(n)
                total, n_batches, seen, bad = fast.epoch(rows, bs, lr, norms)
                self.samples_seen += seen
                if bad is not None:
                    self._diverged(self.epoch, bad, last_good, last_buffers)
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    total, n_batches = self._python_epoch(
                        X, Y, w, order, bs, norms, stats, gather, last_good, last_buffers,
                        callbacks,
                    )  # fmt: skip
            wtotal = n if w is None else float(w.sum())
            epoch_loss = total / wtotal
            if not np.isfinite(net.parameters).all() or not math.isfinite(epoch_loss):
                self._diverged(self.epoch, epoch_loss, last_good, last_buffers)
            last_good[...] = net.parameters
            for k, v in net.buffers():
                last_buffers[k][...] = v
            self.history.learning_rate.append(lr)
            self.history.grad_norms.append([float(x) for x in norms / max(n_batches, 1)])
            if self._end_epoch(epoch_loss, Xv, Yv, wv, callbacks):
                break

    def _python_epoch(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, order: np.ndarray | None,
        bs: int, norms: np.ndarray, stats: GradStats, gather: BatchGather,
        last_good: np.ndarray, last_buffers: dict[str, np.ndarray], callbacks: list[Callback],
    ) -> tuple[float, int]:  # fmt: skip
        """One epoch of the Python loop; returns ``(Σ cost · Σw, batches taken)``."""
        net, opt, comm = self.net, self.optimizer, self.communicator
        assert isinstance(opt, Optimizer)
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
            if comm is None:
                cost = net.backward(
                    Xb, Yb, wb, training=True, l2=self.alpha / wsum, reuse_buffers=True
                )
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
            total += cost * wsum
            n_batches += 1
            self.samples_seen += m
            for cb in callbacks:
                cb.on_batch_end(self, b, {"loss": cost, "batch_size": m})
        return total, n_batches

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: optimizer, schedule, counters, generator
        state, history, best weights (NumPy arrays and JSON-able values only)."""
        return _state_dict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        _load_state_dict(self, state)
