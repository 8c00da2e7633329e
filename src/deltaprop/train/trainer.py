"""The complete training loop, :class:`Trainer`.

Mini-batches, shuffling, an optimizer and a learning-rate schedule, L2, gradient clipping,
class and sample weights, validation, early stopping with the best weights restored,
callbacks, a progress bar, divergence detection, and resumption (a second
:meth:`Trainer.fit` continues from the current weights and optimizer state). The pieces
it composes live beside it in :mod:`deltaprop.train` (``defaults``, ``batches``, ``splits``,
``weights``, ``scores``, ``callbacks``, ``progress``, ``distributed``, ``checks``);
:func:`~deltaprop.train.descent.gradient_descent` is the seeds' loop.

The objective a :class:`Trainer` minimises on a mini-batch ``B`` is scikit-learn's::

    J_B = Σ_{i∈B} w_i L_i / Σ_{i∈B} w_i  +  α / (2 Σ_{i∈B} w_i) · Σ_l ‖W[l]‖²_F

(``w_i`` = sample weight × class weight, 1 by default; biases are not penalised).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from deltaprop.core import Network, as_generator
from deltaprop.data import Dataset
from deltaprop.fast import CompiledLoop  # noqa: F401  (the loop's seam, patched by tests/fast)
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
from deltaprop.train.batches import effective_batch_size
from deltaprop.train.callbacks import Callback, History, as_callbacks, stop_at_interrupt
from deltaprop.train.checks import _check_settings, refuse_fit_settings
from deltaprop.train.defaults import TRAINER_DEFAULTS as D
from deltaprop.train.errors import DivergenceError
from deltaprop.train.lbfgs import fit_lbfgs
from deltaprop.train.progress import ProgressBar
from deltaprop.train.scores import CLASSIFICATION_LOSSES, ScoreFn, accuracy_score, r2_score
from deltaprop.train.sgd import fit_sgd
from deltaprop.train.splits import check_validation_data, validation_split
from deltaprop.train.state import _load_state_dict, _state_dict
from deltaprop.train.stopping import DIVERGENCE_FACTOR, StopRecord, loss_baselines
from deltaprop.train.streaming import fit_streamed, prepare_streamed
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
    learning_rate : float or None, default=None
        Initial learning rate (ignored by L-BFGS), which the schedule sets on the optimizer
        every epoch. By default an optimizer object's own (``Trainer(net, SGD(0.1))``
        trains at 0.1), else ``TRAINER_DEFAULTS.learning_rate`` (1e-3) for a name; given
        with an optimizer object, it is the rate used (``optimizer.learning_rate`` is set
        to it).
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
        ``early_stopping``) has not improved by ``tol`` on its best for more than this many
        consecutive epochs (scikit-learn's rule: ``n_iter_no_change + 1`` epochs).
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
    callbacks : sequence of Callback or None, default=()
        Their hooks' signatures are checked when :meth:`fit` starts (``TypeError``). An
        object that defines only some hooks without subclassing ``Callback`` is accepted:
        only those are called (:func:`~deltaprop.train.callbacks.as_callbacks`).
    verbose : bool, default=False
        Show a progress bar.
    seed : int, Generator or None, default=None
        Shuffling and the validation split.
    communicator : Communicator or None, default=None
        Data parallelism (:mod:`deltaprop.parallel`): every rank holds the same data and
        seed, so all draw the same global batches; each computes the gradient of its share
        and one allreduce sums them. Batch statistics of batch normalization stay local.

    Attributes
    ----------
    divergence_factor : float or None, default=100
        The divergence policy: after every epoch, the run has diverged when the training
        loss is NaN or infinite, or more than ``divergence_factor`` times the larger of the
        loss of the weights the first fit started from and a constant predictor's (the
        weighted mean of the targets). :meth:`fit` then puts back the weights of the last
        epoch that had not diverged, records ``history.stop_reason == "diverged"`` and
        raises :class:`~deltaprop.train.errors.DivergenceError`. ``None`` checks for
        non-finite losses only.

    Notes
    -----
    Every fit ends with ``history.stop`` (a :class:`~deltaprop.train.stopping.StopRecord`):
    ``history.stop_reason`` is one of ``"epochs"``, ``"no_improvement"``,
    ``"early_stopping"``, ``"diverged"``, ``"interrupted"`` and ``"callback"``, and
    ``history.stop_message`` says it with the epoch and the counts, e.g. ``"stopped at
    epoch 57: the training loss did not improve by tol=0.0001 for 11 consecutive epochs
    (more than n_iter_no_change=10); its best was 0.0123 at epoch 46"``.

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
        learning_rate: float | None = None,
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
        callbacks: Sequence[Callback] | None = (),
        verbose: bool = D.verbose,
        seed: int | np.random.Generator | None = None,
        communicator: Communicator | None = None,
    ) -> None:
        if not isinstance(net, Network):
            raise TypeError(f"net must be a Network. Received: net={net!r}")
        self.net = net
        self.communicator = communicator
        if isinstance(optimizer, Optimizer) and learning_rate is None:
            learning_rate = optimizer.learning_rate  # the object's own setting
        self.learning_rate = check_learning_rate(
            D.learning_rate if learning_rate is None else learning_rate
        )
        if isinstance(optimizer, str) and optimizer != "lbfgs":
            self.optimizer: Optimizer | LBFGS = get_optimizer(
                optimizer, learning_rate=self.learning_rate
            )
        elif isinstance(optimizer, str):
            self.optimizer = LBFGS(max_iter=epochs, tol=tol)
        else:
            self.optimizer = optimizer
            if isinstance(optimizer, Optimizer):
                optimizer.learning_rate = self.learning_rate
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
            shuffle,
            early_stopping,
            callbacks,
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
        self.callbacks = list(callbacks or ())  # None: none, as Keras
        self.verbose = bool(verbose)
        self.rng = as_generator(seed)
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
        self.best_metric_epoch: int | None = None  # 1-based, where best_metric was reached
        self.converged = False
        self.divergence_factor: float | None = DIVERGENCE_FACTOR
        self.baselines: tuple[float, float] | None = None  # of the divergence policy
        self._stopper: str = ""  # the callback that set stop_training

    # ------------------------------------------------------------------ helpers
    def _validate(
        self, Xv: np.ndarray, Yv: np.ndarray, wv: np.ndarray | None
    ) -> tuple[float, float]:
        loss = self.net.cost(Xv, Yv, wv, training=False, check=False)
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
        finite = math.isfinite(value) and bool(np.isfinite(self.net.parameters).all())
        exc = DivergenceError(
            epoch=epoch + 1, loss=value, learning_rate=self.current_learning_rate,
            baselines=self.baselines if finite else None,
            factor=self.divergence_factor if finite else None,
        )  # fmt: skip
        self.history.stop = StopRecord(
            "diverged", epoch + 1, best_epoch=epoch if epoch > 0 else None, detail=str(exc)
        )
        raise exc

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
        Y: Any = None,
        sample_weight: Any = None,
        validation_data: tuple[Any, ...] | None = None,
        **keras: Any,
    ) -> History:
        """Train for up to ``epochs`` epochs; a second call continues where this one ended.

        Parameters
        ----------
        X : array-like of shape (m, n_0), or a :class:`~deltaprop.data.Dataset`
            A dataset is trained on out of core (:mod:`deltaprop.train.streaming`): ``Y``
            and ``sample_weight`` are then omitted.
        Y : array-like of shape (m, n_L) or None
        sample_weight : array-like of shape (m,), optional
        validation_data : tuple (X_val, Y_val) or (X_val, Y_val, w_val), optional
            Used instead of a ``validation_fraction`` split. Keras's other ``fit`` arguments
            (``epochs=``, ``batch_size=``) are settings of the Trainer: a ``TypeError`` says so.

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
        refuse_fit_settings(self, keras)
        net = self.net
        if isinstance(X, Dataset):  # out of core: deltaprop.train.streaming
            part, Xv, Yv, wv = prepare_streamed(self, X, Y, sample_weight, validation_data)
            return self._run(lambda cbs: fit_streamed(self, part, Xv, Yv, wv, cbs))
        X = net.check_X(X)
        Y = net.check_Y(Y, X.shape[0])
        w = net.check_sample_weight(sample_weight, X.shape[0])
        # one conversion per fit: a batch's take from a Fortran-ordered X copies it whole
        X, Y, w = (np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in (X, Y, w))
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
        if self.baselines is None and self.divergence_factor is not None:
            n = X.shape[0]
            m = n if isinstance(self.optimizer, LBFGS) else effective_batch_size(self.batch_size, n)
            self.baselines = loss_baselines(net, X, Y, w, self.alpha, m)
        if isinstance(self.optimizer, LBFGS):
            return self._run(lambda cbs: fit_lbfgs(self, X, Y, w, Xv, Yv, wv, cbs))
        return self._run(lambda cbs: fit_sgd(self, X, Y, w, Xv, Yv, wv, cbs))

    def _run(self, train: Callable[[list[Callback]], None]) -> History:
        """A fit's callbacks and stop record around ``train(callbacks)``, the epochs."""
        self.stop_training = False
        self.converged = False
        self._stopper = ""
        self.solver_stop: StopRecord | None = None  # L-BFGS's own end (train/lbfgs.py)
        callbacks = list(self.callbacks)
        if self.verbose:
            callbacks.append(ProgressBar())
        callbacks = as_callbacks(callbacks)  # checked: TypeError before any training
        start = self.epoch
        for cb in callbacks:
            cb.on_train_begin(self, {"epoch": start, "epochs": self.epochs})
        try:
            train(callbacks)
        except BaseException as raised:
            error, kept = stop_at_interrupt(self, callbacks, raised)
            for cb in callbacks:  # a display, a signal handler: released, whatever the end
                cb.on_exception(self, {"exception": error, "epochs": self.epoch})
            if not kept:
                if error is raised:
                    raise
                raise error from raised
            return self.history  # StopOnInterrupt: as a normal end, without on_train_end
        restored = self.early_stopping and self.restore_best()
        self.history.stop = self._stop_record(start, restored)
        stop = self.history.stop
        for cb in callbacks:
            cb.on_train_end(self, {"epochs": self.epoch, "converged": self.converged,
                                   "stop_reason": stop.reason, "stop_message": stop.message})  # fmt: skip
        return self.history

    def _stop_record(self, start: int, restored: bool) -> StopRecord:
        """Why this fit, which started after epoch ``start``, stopped."""
        if self._stopper:
            return StopRecord("callback", self.epoch, detail=self._stopper)
        if self.solver_stop is not None:
            return self.solver_stop
        monitor = "training loss"
        if self.early_stopping:
            monitor = "validation loss" if self.monitor == "val_loss" else "validation score"
        best = -self.best_metric if monitor == "validation score" else self.best_metric
        kept = None if not restored or self.best_epoch is None else self.best_epoch + 1
        if not self.converged:  # at the limit, early stopping's best weights are kept too
            return StopRecord("epochs", self.epoch, limit=self.epoch - start, start=start,
                              monitor=monitor, best=best if kept else None,
                              best_at=self.best_metric_epoch if kept else None, best_epoch=kept)  # fmt: skip
        return StopRecord(
            "early_stopping" if self.early_stopping else "no_improvement", self.epoch,
            monitor=monitor, count=self.no_improvement, patience=self.n_iter_no_change,
            tol=self.tol, best=best, best_at=self.best_metric_epoch, best_epoch=kept,
            detail="plateau" if isinstance(self.schedule, ReduceOnPlateau) else "",
        )  # fmt: skip

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
            self.best_metric_epoch = self.epoch + 1
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
            if self.stop_training and not self._stopper:
                self._stopper = cb.stop_source
        if self.stop_training:
            self._stopper = self._stopper or "unknown"
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

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: optimizer, schedule, counters, generator
        state, history, best weights (NumPy arrays and JSON-able values only)."""
        return _state_dict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        _load_state_dict(self, state)
