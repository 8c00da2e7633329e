"""Training loops.

:func:`gradient_descent` is the seeds' loop, verbatim: for each iteration until
convergence, compute the prediction, compute the derivatives by backpropagation, update
``W[l] -= α dW[l]`` and ``b[l] -= α db[l]``. Because the parameters and the gradients are
two flat buffers laid out alike, the update of every layer is one line,
``θ -= α ∇θ``, and each ``dW[l]`` lands on its own ``W[l]`` by construction (seed 001's
pseudocode appends the gradients from the last layer to the first and then applies them
from the first layer on, so it updates the wrong layers).

:class:`Trainer` is the complete loop: mini-batches, shuffling, an optimizer and a
learning-rate schedule, L2, gradient clipping, class and sample weights, validation, early
stopping with the best weights restored, callbacks, a progress bar, divergence detection,
and resumption (a second :meth:`Trainer.fit` continues from the current weights and
optimizer state).

The objective a :class:`Trainer` minimises on a mini-batch ``B`` is scikit-learn's::

    J_B = Σ_{i∈B} w_i L_i / Σ_{i∈B} w_i  +  α / (2 Σ_{i∈B} w_i) · Σ_l ‖W[l]‖²_F

(``w_i`` = sample weight × class weight, 1 by default; biases are not penalised).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.sparse import issparse

from deltaprop.core import Network, check_int, check_real
from deltaprop.core import fused as _fused
from deltaprop.fast import CompiledLoop
from deltaprop.optim import LBFGS, Optimizer, ReduceOnPlateau, Schedule, get_optimizer, get_schedule

__all__ = [
    "Callback",
    "Communicator",
    "DivergenceError",
    "History",
    "ProgressBar",
    "Trainer",
    "gradient_descent",
]


class DivergenceError(ValueError, FloatingPointError):
    """Raised when the cost becomes NaN or infinite; the weights are the last good ones."""


def gradient_descent(
    net: Network,
    X: Any,
    Y: Any,
    learning_rate: float = 0.1,
    max_iter: int = 1000,
    tol: float = 1e-7,
    sample_weight: Any = None,
) -> list[float]:
    """Full-batch gradient descent, the seeds' loop.

    Repeats forward, backward, ``W -= α dW``, ``b -= α db`` until the cost changes by less
    than ``tol`` between two iterations or ``max_iter`` iterations are done.

    Parameters
    ----------
    net : Network
        Trained in place.
    X : array-like of shape (m, n_0)
    Y : array-like of shape (m, n_L)
    learning_rate : float, default=0.1
        ``α``.
    max_iter : int, default=1000
    tol : float, default=1e-7
    sample_weight : array-like of shape (m,), optional

    Returns
    -------
    history : list of float
        The cost before each update (``history[0]`` is the cost of the initial weights).

    Raises
    ------
    DivergenceError
        If the cost becomes NaN or infinite; the network keeps the last finite weights.

    Examples
    --------
    >>> import numpy as np
    >>> from deltaprop import Network, gradient_descent
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]); Y = np.array([0, 1, 1, 0])
    >>> net = Network([2, 4, 1], "tanh", "binary_crossentropy", seed=0)
    >>> history = gradient_descent(net, X, Y, learning_rate=1.0, max_iter=2000)
    >>> bool(((net.forward(X) > 0.5).ravel() == Y).all())
    True
    """
    if not (isinstance(learning_rate, int | float) and math.isfinite(learning_rate)
            and learning_rate > 0):  # fmt: skip
        raise ValueError(
            f"learning_rate must be a positive finite number. Received: learning_rate={learning_rate!r}"
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer. Received: max_iter={max_iter!r}")
    if not (isinstance(tol, int | float) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number. Received: tol={tol!r}")
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    w = net.check_sample_weight(sample_weight, X.shape[0])

    history: list[float] = []
    last_good = net.parameters.copy()
    for it in range(max_iter):
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
            cost = net._backward(X, Y, w, training=True)  # 1. prediction, 2. derivatives
        if not math.isfinite(cost) or not bool(net.xp.isfinite(net.grad).all()):
            net.parameters[...] = last_good
            raise DivergenceError(
                f"gradient descent diverged at iteration {it}: the cost became {cost}. "
                f"The last finite weights were kept; try a smaller learning_rate "
                f"(received learning_rate={learning_rate})."
            )
        history.append(cost)
        if len(history) > 1 and abs(history[-2] - cost) < tol:
            break
        last_good[...] = net.parameters
        net.parameters -= learning_rate * net.grad  # 3. W[l] -= α dW[l], b[l] -= α db[l]
    return history


# ---------------------------------------------------------------------------------------
# The complete trainer
# ---------------------------------------------------------------------------------------
@dataclass
class History:
    """What a :class:`Trainer` records, one entry per epoch.

    Attributes
    ----------
    loss : list of float
        Training objective per epoch (the sample-weighted mean of the mini-batch costs,
        L2 term included).
    val_loss, val_score : list of float
        Validation loss (no L2 term) and score (accuracy for classification, R² for
        regression, or the ``score`` callable), empty without validation data.
    learning_rate : list of float
        The learning rate used in each epoch.
    grad_norms : list of list of float
        ``‖dW[l]‖_F`` per epoch and layer, averaged over the epoch's mini-batches: the
        diagnostic for vanishing and exploding gradients.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain lists, for JSON."""
        return {
            "loss": list(self.loss),
            "val_loss": list(self.val_loss),
            "val_score": list(self.val_score),
            "learning_rate": list(self.learning_rate),
            "grad_norms": [list(g) for g in self.grad_norms],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`as_dict`."""
        return cls(
            loss=[float(v) for v in d.get("loss", [])],
            val_loss=[float(v) for v in d.get("val_loss", [])],
            val_score=[float(v) for v in d.get("val_score", [])],
            learning_rate=[float(v) for v in d.get("learning_rate", [])],
            grad_norms=[[float(x) for x in g] for g in d.get("grad_norms", [])],
        )


class Communicator(Protocol):
    """What :class:`Trainer` needs for data parallelism (see :mod:`deltaprop.parallel.mpi`).

    Attributes
    ----------
    rank, size : int
        This process's index and the number of processes.
    """

    rank: int
    size: int

    def split(self, n: int) -> slice:
        """The contiguous share of a global batch of ``n`` rows that this rank computes."""
        ...

    def allreduce(self, buffer: np.ndarray) -> None:
        """Sum ``buffer`` over all ranks, in place."""
        ...


class Callback:
    """Hooks into the training loop; subclass and override what you need.

    Every hook receives the :class:`Trainer`; ``logs`` holds the current values
    (``"loss"``, ``"val_loss"``, ``"val_score"``, ``"learning_rate"`` at epoch end;
    ``"loss"``, ``"batch_size"`` at batch end). Set ``trainer.stop_training = True`` to stop
    after the current epoch.

    Examples
    --------
    >>> class StopBelow(Callback):
    ...     def on_epoch_end(self, trainer, epoch, logs):
    ...         if logs["loss"] < 0.1:
    ...             trainer.stop_training = True
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once at the start of :meth:`Trainer.fit`."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, float]) -> None:
        """Called after each optimizer step (mini-batch index within the epoch)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch (0-based epoch index, counted over all fits)."""

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        """Called once when :meth:`Trainer.fit` ends (not after a divergence error)."""


class ProgressBar(Callback):
    """A rich progress bar over the epochs, showing the latest losses and score.

    Parameters
    ----------
    total : int, optional
        Epochs of the whole run; by default the epoch this fit can end at (a fit that
        continues an earlier one starts part-way along).
    console : rich.console.Console, optional
        Where to draw; rich's default console otherwise.
    score_name : str, default="score"
        What the validation score is called in the bar (``"accuracy"``, ``"R²"``).
    label : str, default="training"
        The text before the bar.
    """

    def __init__(
        self, total: int | None = None, console: Any = None, score_name: str = "score",
        label: str = "training",
    ) -> None:  # fmt: skip
        self.total = total
        self.console = console
        self.score_name = score_name
        self.label = label
        self._progress: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn(self.label), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=self.console,
        )  # fmt: skip
        self._progress.start()
        total = self.total if self.total is not None else trainer.epoch + trainer.epochs
        self._task = self._progress.add_task("train", total=total, completed=trainer.epoch, info="")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        info = f"loss {logs['loss']:.4f}"
        if "val_loss" in logs:
            info += (
                f"  val loss {logs['val_loss']:.4f}  val {self.score_name} {logs['val_score']:.4f}"
            )
        self._progress.update(self._task, completed=epoch + 1, info=info)

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the bar down (also after an error, when ``on_train_end`` is not called)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def accuracy_score(net: Network, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted accuracy: argmax for several outputs, threshold 0.5 for one (multilabel:
    every label right)."""
    A = net._forward(X, training=False)
    if not np.isfinite(A).all():
        return math.nan
    if A.shape[1] > 1 and net.loss.name == "categorical_crossentropy":
        right = A.argmax(axis=1) == Y.argmax(axis=1)
    else:
        right = ((A > 0.5) == (Y > 0.5)).all(axis=1)
    return float(np.average(right, weights=w))


def r2_score(net: Network, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted coefficient of determination, averaged uniformly over the outputs."""
    from sklearn.metrics import r2_score as _r2

    A = net._forward(X, training=False)
    if not np.isfinite(A).all():
        return math.nan
    return float(_r2(Y, A, sample_weight=w))


# Settings for schedules named by string: over one fit of ``epochs`` epochs, step decay
# divides by 10 twice, exponential decay ends near 1% of the rate, cosine reaches 0.
_SCHEDULE_DEFAULTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "step": lambda epochs: {"step_size": max(1, epochs // 3)},
    "exponential": lambda epochs: {"gamma": 0.01 ** (1.0 / max(epochs, 1))},
    "cosine": lambda epochs: {"t_max": max(epochs, 1)},
}
_CLASSIFICATION_LOSSES = {"binary_crossentropy", "categorical_crossentropy"}
ScoreFn = Callable[[Network, np.ndarray, np.ndarray, "np.ndarray | None"], float]


class _BatchGather:
    """The rows ``X[idx]``, ``Y[idx]`` of a shuffled mini-batch, gathered into buffers kept
    per batch size (the full batches and the last one), so that the loop allocates none."""

    def __init__(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.X, self.Y = X, Y
        self.buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = idx.shape[0]
        if issparse(self.X):  # sparse rows: SciPy gathers them into a new CSR batch
            return self.X[idx], self.Y.take(idx, axis=0)
        if m not in self.buffers:
            X, Y = self.X, self.Y
            self.buffers[m] = (np.empty((m, *X.shape[1:]), X.dtype), np.empty((m, *Y.shape[1:]), Y.dtype))  # fmt: skip
        Xb, Yb = self.buffers[m]
        # mode="clip" (the indices are in range) lets take write into out unbuffered
        self.X.take(idx, axis=0, out=Xb, mode="clip")
        self.Y.take(idx, axis=0, out=Yb, mode="clip")
        return Xb, Yb


class _GradStats:
    """After a backward pass: add ``‖dW[l]‖_F`` to the epoch's sums and check that the
    whole gradient is finite, in one compiled pass where :mod:`deltaprop.core.fused` is loaded."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.kernels = _fused.get(net.n_params)
        starts = [sl.start for sl in net.slices]
        self.starts = np.array(starts, dtype=np.intp)
        self.stops = self.starts + [d.n_in * d.n_out for d in net.dense]

    def dW_norms_into(self, norms: np.ndarray) -> bool:
        net = self.net
        if self.kernels is not None and isinstance(net.grad, np.ndarray):
            return bool(self.kernels.grad_stats(net.grad, self.starts, self.stops, norms))
        for l, layer in enumerate(net.dense):
            dW = layer.grads["W"]
            norms[l] += math.sqrt(float(np.vdot(dW, dW)))
        return bool(np.isfinite(net.grad).all())


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
        :mod:`deltaprop.optim.schedules` for other settings.
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
        Data parallelism (:mod:`deltaprop.parallel.mpi`): every rank holds the same data and
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
        optimizer: str | Optimizer | LBFGS = "adam",
        learning_rate: float = 1e-3,
        schedule: str | Schedule = "constant",
        batch_size: int | None = 200,
        epochs: int = 200,
        shuffle: bool = True,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        alpha: float = 0.0,
        clip_norm: float | None = None,
        validation_fraction: float | None = None,
        early_stopping: bool = False,
        monitor: str = "val_loss",
        score: ScoreFn | None = None,
        class_weight: dict[int, float] | str | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: bool = False,
        seed: int | np.random.Generator | None = None,
        communicator: Communicator | None = None,
    ) -> None:
        self.net = net
        self.communicator = communicator
        self.learning_rate = check_real(
            "learning_rate", learning_rate, low=0.0, low_open=True, what="a positive finite number"
        )
        if isinstance(optimizer, str) and optimizer != "lbfgs":
            self.optimizer: Optimizer | LBFGS = get_optimizer(
                optimizer, learning_rate=self.learning_rate
            )
        elif isinstance(optimizer, str):
            self.optimizer = LBFGS(max_iter=epochs, tol=tol)
        else:
            self.optimizer = optimizer
        if isinstance(schedule, str) and schedule in _SCHEDULE_DEFAULTS:
            self.schedule = get_schedule(schedule, **_SCHEDULE_DEFAULTS[schedule](epochs))
        else:
            self.schedule = get_schedule(schedule)
        if batch_size is not None:
            check_int("batch_size", batch_size, low=1, what="a positive integer")
        check_int("epochs", epochs, low=1, what="a positive integer")
        check_int("n_iter_no_change", n_iter_no_change, low=1, what="a positive integer")
        check_real("tol", tol, low=0.0, what="a non-negative finite number")
        check_real("alpha", alpha, low=0.0, what="a non-negative finite number")
        if clip_norm is not None:
            check_real("clip_norm", clip_norm, low=0.0, low_open=True,
                       what="a positive number or None")  # fmt: skip
        if validation_fraction is not None:
            check_real("validation_fraction", validation_fraction, low=0.0, high=1.0,
                       low_open=True, high_open=True, what="in (0, 1) or None")  # fmt: skip
        if monitor not in ("val_loss", "val_score"):
            raise ValueError(
                f"monitor must be 'val_loss' or 'val_score'. Received: monitor={monitor!r}"
            )
        if not (
            class_weight is None or class_weight == "balanced" or isinstance(class_weight, dict)
        ):
            raise ValueError(
                f"class_weight must be a dict, 'balanced' or None. Received: class_weight={class_weight!r}"
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
        self.classification = net.loss.name in _CLASSIFICATION_LOSSES
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
    def _class_weights(self, Y: np.ndarray, w: np.ndarray | None) -> np.ndarray | None:
        """Per-sample weights from ``class_weight``.

        ``"balanced"`` gives class ``k`` the weight ``Σw / (n_classes · Σ_{i∈k} w_i)`` (the
        sample weights ``w`` count, so a weight of 2 acts as a repeated sample). For
        multilabel targets each label is balanced on its own (present / absent) and a
        sample gets the mean of its labels' weights.
        """
        cw = self.class_weight
        if cw is None:
            return None
        if not self.classification:
            raise ValueError(
                "class_weight needs a cross-entropy loss. Received: loss="
                + repr(self.net.loss.name)
            )
        weights = np.ones(Y.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
        multilabel = Y.shape[1] > 1 and self.net.loss.name == "binary_crossentropy"
        if multilabel:
            if cw != "balanced":
                raise ValueError(
                    "class_weight for multilabel targets must be 'balanced' or None. "
                    f"Received: class_weight={cw!r}"
                )
            present = Y > 0.5
            total = weights.sum()
            pos = weights @ present
            neg = total - pos
            w_pos = np.where(pos > 0, total / (2 * np.maximum(pos, 1e-300)), 0.0)
            w_neg = np.where(neg > 0, total / (2 * np.maximum(neg, 1e-300)), 0.0)
            per_label = np.where(present, w_pos, w_neg)
            return per_label.mean(axis=1).astype(self.net.dtype)
        if Y.shape[1] == 1:
            idx = (Y[:, 0] > 0.5).astype(np.intp)
            n_classes = 2
        else:
            idx = Y.argmax(axis=1)
            n_classes = Y.shape[1]
        if cw == "balanced":
            counts = np.bincount(idx, weights=weights, minlength=n_classes)
            present_classes = np.count_nonzero(counts)
            table = np.where(
                counts > 0, weights.sum() / (present_classes * np.maximum(counts, 1e-300)), 0.0
            )
        else:
            assert isinstance(cw, dict)
            table = np.ones(n_classes)
            for k, v in cw.items():
                if not (isinstance(k, int | np.integer) and 0 <= k < n_classes):
                    raise ValueError(
                        f"class_weight keys must be class indices in [0, {n_classes}). Received: {k!r}"
                    )
                if not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
                    raise ValueError(
                        f"class_weight values must be non-negative numbers. Received: {k!r}: {v!r}"
                    )
                table[k] = v
        return table[idx].astype(self.net.dtype)

    def _split(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None
    ) -> tuple[
        np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None
    ]:
        from sklearn.model_selection import train_test_split

        n = X.shape[0]
        idx = np.arange(n)
        stratify = None
        if self.classification and Y.shape[1] == 1:  # binary: stratify on the label
            stratify = (Y[:, 0] > 0.5).astype(str)  # "True"/"False", as scikit-learn names them
        elif self.net.loss.name == "categorical_crossentropy":  # multiclass
            stratify = Y.argmax(axis=1)
        # (multilabel targets are split without stratification, as in scikit-learn)
        tr, va = train_test_split(
            idx, test_size=self.validation_fraction, random_state=self.split_seed,
            stratify=stratify,
        )  # fmt: skip
        if len(va) < 2 or len(tr) == 0:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                f"of your dataset. Received: validation_fraction={self.validation_fraction} "
                f"with {n} samples"
            )
        wt = None if w is None else w[tr]
        wv = None if w is None else w[va]
        return X[tr], Y[tr], wt, X[va], Y[va], wv

    def _validate(
        self, Xv: np.ndarray, Yv: np.ndarray, wv: np.ndarray | None
    ) -> tuple[float, float]:
        loss = self.net._cost(Xv, Yv, wv, training=False, l2=0.0)
        return loss, self.score_fn(self.net, Xv, Yv, wv)

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
        raise DivergenceError(
            f"Training diverged in epoch {epoch + 1}: the loss became {value}. The weights "
            f"of the last finite epoch were kept. Try a smaller learning rate (it was "
            f"{self.current_learning_rate:g}), gradient clipping (clip_norm), or scaling "
            f"the inputs."
        )

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
        cw = self._class_weights(Y, w)
        if cw is not None:
            w = cw if w is None else w * cw
            if float(w.sum()) <= 0:
                raise ValueError("class_weight and sample_weight leave every sample with weight 0")
        Xv = Yv = wv = None
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data must be (X_val, Y_val) or (X_val, Y_val, sample_weight_val)"
                )
            Xv = net.check_X(validation_data[0], "X_val")
            Yv = net.check_Y(validation_data[1], Xv.shape[0])
            wv = (
                net.check_sample_weight(validation_data[2], Xv.shape[0])
                if len(validation_data) == 3
                else None
            )
        elif self.validation_fraction is not None or self.early_stopping:
            if self.validation_fraction is None:
                self.validation_fraction = 0.1
            X, Y, w, Xv, Yv, wv = self._split(X, Y, w)
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
            self._fit_lbfgs(X, Y, w, Xv, Yv, wv, callbacks)
        else:
            self._fit_sgd(X, Y, w, Xv, Yv, wv, callbacks)
        if self.early_stopping and self.best_parameters is not None:
            net.parameters[...] = self.best_parameters
            if self.best_buffers:
                net.set_buffers(self.best_buffers)
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
        bs = n if self.batch_size is None else min(self.batch_size, n)
        fast = CompiledLoop.create(
            self.net, self.optimizer, X, Y, w, self.alpha, self.clip_norm, callbacks,
            self.communicator,
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
        gather = _BatchGather(X, Y)
        stats = _GradStats(net)
        for _ in range(self.epochs):
            lr = self.schedule(self.epoch, self.learning_rate, self.samples_seen)
            opt.learning_rate = lr
            order = self.rng.permutation(n) if self.shuffle else None
            norms = np.zeros(n_dense)
            if fast is not None:
                check_real("learning_rate", lr, low=0.0, what="a non-negative finite float")
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
        bs: int, norms: np.ndarray, stats: _GradStats, gather: _BatchGather,
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
                cost = net._backward(
                    Xb, Yb, wb, training=True, l2=self.alpha / wsum, reuse_buffers=True
                )
            else:
                cost = self._distributed_backward(Xb, Yb, wb, wsum, comm)
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

    def _distributed_backward(
        self, Xb: np.ndarray, Yb: np.ndarray, wb: np.ndarray | None, wsum: float, comm: Communicator
    ) -> float:
        """This rank's share of one global batch, then one allreduce of the flat gradient.

        Each rank normalises by the whole batch's weight ``wsum`` and adds ``1/size`` of
        the L2 term, so the sum over ranks is exactly the gradient of the whole batch.
        """
        net = self.net
        local = comm.split(Xb.shape[0])
        l2 = self.alpha / wsum / comm.size
        if local.stop > local.start:
            wl = None if wb is None else wb[local]
            cost = net._backward(Xb[local], Yb[local], wl, training=True, l2=l2, total_weight=wsum)
        else:  # an empty share still adds its 1/size of the L2 term, dW = l2 W
            net.grad[...] = 0
            if l2:
                for layer in net.dense:
                    layer.grads["W"][...] = l2 * layer.W
            cost = net._l2_term(l2)
        packed = np.append(net.grad, net.grad.dtype.type(cost))
        comm.allreduce(packed)
        net.grad[...] = packed[:-1]
        return float(packed[-1])

    def _fit_lbfgs(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, Xv: Any, Yv: Any, wv: Any,
        callbacks: list[Callback],
    ) -> None:  # fmt: skip
        net, opt = self.net, self.optimizer
        assert isinstance(opt, LBFGS)
        wsum = X.shape[0] if w is None else float(w.sum())
        l2 = self.alpha / wsum
        last = {"cost": math.nan}

        def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
            net.parameters[...] = theta
            with np.errstate(over="ignore", invalid="ignore"):
                cost = net._backward(X, Y, w, training=True, l2=l2)
            last["cost"] = cost
            return cost, net.grad.astype(np.float64)

        def callback(intermediate_result: Any = None) -> None:
            layer_norms = [math.sqrt(float(np.vdot(d.grads["W"], d.grads["W"]))) for d in net.dense]
            self.history.learning_rate.append(math.nan)
            self.history.grad_norms.append(layer_norms)
            cost = float(getattr(intermediate_result, "fun", last["cost"]))
            if self._end_epoch(cost, Xv, Yv, wv, callbacks, convergence=False):
                raise StopIteration

        x0 = net.parameters.astype(np.float64)
        result = opt.minimize(fun, x0, callback=callback)
        if not np.isfinite(result.x).all() or not math.isfinite(float(result.fun)):
            self._diverged(self.epoch, float(result.fun), x0.astype(net.dtype), {})
        net.parameters[...] = result.x
        net._backward(X, Y, w, training=True, l2=l2)  # leave the grads of the final weights
        self.samples_seen += X.shape[0] * int(result.nit)
        self.lbfgs_result = result

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: optimizer, schedule, counters, generator
        state, history, best weights (NumPy arrays and JSON-able values only)."""
        return {
            "epoch": self.epoch,
            "split_seed": self.split_seed,
            "samples_seen": self.samples_seen,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "no_improvement": self.no_improvement,
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "history": self.history.as_dict(),
            "best_parameters": None
            if self.best_parameters is None
            else self.best_parameters.copy(),
            "best_buffers": None
            if self.best_buffers is None
            else {k: v.copy() for k, v in self.best_buffers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.epoch = int(state["epoch"])
        self.split_seed = int(state.get("split_seed", self.split_seed))
        self.samples_seen = int(state["samples_seen"])
        self.best_metric = float(state["best_metric"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.no_improvement = int(state["no_improvement"])
        self.rng.bit_generator.state = state["rng"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.history = History.from_dict(state["history"])
        bp = state.get("best_parameters")
        self.best_parameters = None if bp is None else np.array(bp, dtype=self.net.dtype)
        bb = state.get("best_buffers")
        self.best_buffers = None if bb is None else {k: np.array(v) for k, v in bb.items()}
