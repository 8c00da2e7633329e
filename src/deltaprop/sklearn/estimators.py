"""``MLPClassifier`` and ``MLPRegressor``: the scikit-learn face of deltaprop.

Every parameter that scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` has is here with the
same name, meaning and default, so swapping the import is enough for existing code. Beyond
them: per-layer activations (a list for ``activation``), the solvers ``"rmsprop"`` and
``"adamw"``, every learning-rate schedule for ``"sgd"``, ``dropout``, ``batch_norm``,
``class_weight``, regression losses (``"absolute_error"``, ``"huber"``), ``dtype``,
``callbacks``, a validation set passed to :meth:`fit` (``X_val``, ``y_val``), validation loss
curves, per-layer gradient norms, and :meth:`transform` (the last hidden layer).

No numerics live here: the estimators translate parameters and labels, and hand the work to
:class:`~deltaprop.core.network.Network` and :class:`~deltaprop.train.trainer.Trainer`.

Notes
-----
``coefs_[i]`` has scikit-learn's shape ``(n_in, n_out)``: it is ``W[i+1]ᵀ``, a transposed view
of the network's weight (which has the seeds' and PyTorch's ``(n_out, n_in)``). Writing into
it changes the network.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from deltaprop.core import ACTIVATIONS, Network
from deltaprop.optim import (
    LBFGS,
    SGD,
    Adam,
    AdamW,
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    Optimizer,
    ReduceOnPlateau,
    RMSprop,
    Schedule,
    StepDecay,
)
from deltaprop.train import Callback, DivergenceError, History, Trainer

__all__ = ["MLPClassifier", "MLPRegressor"]

_SOLVERS = {"lbfgs", "sgd", "adam", "rmsprop", "adamw"}
_SCHEDULES = {"constant", "invscaling", "adaptive", "step", "exponential", "cosine"}
_ACTIVATION_NAMES = set(ACTIVATIONS) - {"softmax", "exp"} | {"logistic"}
_SKLEARN_OUT = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity", "exp": "exp"}
_REGRESSION_LOSSES = {
    "squared_error": ("mean_squared_error", "identity"),
    "absolute_error": ("mean_absolute_error", "identity"),
    "huber": ("huber", "identity"),
    "poisson": ("poisson", "exp"),
}


class DivergenceWarning(ConvergenceWarning):
    """Training diverged; with early stopping the best weights were restored."""


class _IterationPrinter(Callback):
    """``verbose``: scikit-learn's ``Iteration N, loss = ...`` line after every epoch."""

    def __init__(self, estimator: _BaseMLP) -> None:
        self.estimator = estimator

    def on_train_begin(self, trainer: Trainer) -> None:
        self.first = trainer.epoch

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        line = f"Iteration {epoch - self.first + 1}, loss = {logs['loss']:.8f}"
        if "val_score" in logs:
            line += f", validation score = {logs['val_score']:.6f}"
        print(line, flush=True)


def _is_stochastic(est: _BaseMLP) -> bool:
    if est.solver == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not stochastic."
        )
    return True


class _BaseMLP(TransformerMixin, BaseEstimator):
    """Parameters, validation and training shared by the two estimators."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(_ACTIVATION_NAMES), list, tuple],
        "solver": [StrOptions(_SOLVERS)],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(_SCHEDULES)],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
        "batch_norm": ["boolean"],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dtype": [None, StrOptions({"float32", "float64"})],
        "callbacks": [None, list, tuple],
        "distributed": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: Any = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float | list[float] = 0.0,
        batch_norm: bool = False,
        weight_decay: float = 0.01,
        dtype: str | None = None,
        callbacks: list[Callback] | None = None,
        distributed: bool | str = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_decay = weight_decay
        self.dtype = dtype
        self.callbacks = callbacks
        self.distributed = distributed

    # ------------------------------------------------------------------ hooks for subclasses
    def _loss_and_output(self, n_outputs: int) -> tuple[str, str]:
        raise NotImplementedError

    def _encode_y(self, y: Any, incremental: bool, classes: Any = None) -> np.ndarray:
        raise NotImplementedError

    def _class_weight(self) -> Any:
        return None

    def _score_fn(self) -> Any:
        return None

    # ------------------------------------------------------------------ building blocks
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = [sizes]
        sizes = list(sizes)
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, Integral) or s <= 0:
                raise ValueError(
                    "hidden_layer_sizes must be > 0, got "
                    f"{self.hidden_layer_sizes!r}. Received: hidden_layer_sizes={self.hidden_layer_sizes!r}"
                )
        return [int(s) for s in sizes]

    def _hidden_activations(self, n_hidden: int) -> list[str]:
        act = self.activation
        if isinstance(act, str):
            return [act] * n_hidden
        acts = list(act)
        if len(acts) != n_hidden:
            raise ValueError(
                f"activation must be one name or one per hidden layer ({n_hidden}). "
                f"Received: activation={act!r}"
            )
        for a in acts:
            if a not in _ACTIVATION_NAMES:
                raise ValueError(
                    f"activation entries must be among {sorted(_ACTIVATION_NAMES)}. Received: {a!r}"
                )
        return acts

    def _batch_size(self, n_samples: int, warn: bool = True) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        if warn and int(self.batch_size) > n_samples and self.solver != "lbfgs":
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                stacklevel=3,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _communicator(self) -> Any:
        """The MPI communicator when ``distributed`` asks for one and a launcher runs us."""
        if self.distributed is False:
            return None
        from deltaprop.parallel import get_communicator

        return get_communicator("auto" if self.distributed == "auto" else True)

    def _seed(self, comm: Any) -> int:
        """A seed from ``random_state``; under MPI every rank gets rank 0's."""
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if comm is None:
            return seed
        from deltaprop.parallel import shared_seed

        return int(shared_seed(seed, comm))

    def _make_network(
        self, n_features: int, n_outputs: int, dtype: np.dtype[Any], comm: Any = None
    ) -> Network:
        hidden = self._hidden_sizes()
        loss, out = self._loss_and_output(n_outputs)
        acts = [*self._hidden_activations(len(hidden)), out]
        seed = self._seed(comm)
        return Network(
            [n_features, *hidden, n_outputs],
            acts,
            loss,
            seed=int(seed),
            dtype=dtype,
            dropout=self.dropout if hidden else 0.0,
            batch_norm=self.batch_norm if hidden else False,
        )

    def _make_optimizer(self) -> Optimizer | LBFGS:
        lr = self.learning_rate_init
        if self.solver == "sgd":
            return SGD(learning_rate=lr, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0))  # fmt: skip
        if self.solver == "adam":
            return Adam(
                learning_rate=lr, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon
            )
        if self.solver == "adamw":
            return AdamW(learning_rate=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                         epsilon=self.epsilon, weight_decay=self.weight_decay)  # fmt: skip
        if self.solver == "rmsprop":
            return RMSprop(learning_rate=lr, rho=self.beta_2, epsilon=self.epsilon,
                           momentum=self.momentum if self.nesterovs_momentum is False else 0.0)  # fmt: skip
        return LBFGS(max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol)

    def _make_schedule(self) -> Schedule:
        """As in scikit-learn, ``learning_rate`` drives the ``"sgd"`` solver only."""
        name = self.learning_rate if self.solver == "sgd" else "constant"
        if name == "invscaling":
            return InverseScaling(power_t=self.power_t)
        if name == "adaptive":
            patience = self.n_iter_no_change if np.isfinite(self.n_iter_no_change) else 10**9
            return ReduceOnPlateau(factor=0.2, patience=int(patience), tol=self.tol, min_lr=1e-6)
        if name == "step":
            return StepDecay(step_size=max(1, self.max_iter // 3))
        if name == "exponential":
            return ExponentialDecay(gamma=0.01 ** (1.0 / self.max_iter))
        if name == "cosine":
            return CosineAnnealing(t_max=self.max_iter)
        return Constant()

    def _make_trainer(
        self, net: Network, n_samples: int, incremental: bool, comm: Any = None,
        warn: bool = True,
    ) -> Trainer:  # fmt: skip
        verbose = bool(self.verbose)
        if comm is not None:
            from deltaprop.parallel import is_root

            verbose = verbose and is_root(comm)
        callbacks = [*(self.callbacks or ()), *([_IterationPrinter(self)] if verbose else [])]
        n_no_change = self.n_iter_no_change
        return Trainer(
            net,
            self._make_optimizer(),
            learning_rate=self.learning_rate_init,
            schedule=self._make_schedule(),
            batch_size=self._batch_size(n_samples, warn),
            epochs=1 if incremental else self.max_iter,
            shuffle=self.shuffle,
            tol=self.tol,
            n_iter_no_change=int(n_no_change) if np.isfinite(n_no_change) else 2**62,
            alpha=self.alpha,
            early_stopping=self.early_stopping and not incremental,
            validation_fraction=self.validation_fraction if self.early_stopping else None,
            monitor="val_score",
            score=self._score_fn(),
            class_weight=self._class_weight(),
            callbacks=callbacks,
            verbose=False,
            seed=self._seed(comm),
            communicator=comm,
        )

    # ------------------------------------------------------------------ input
    def _check_X(self, X: Any, reset: bool) -> np.ndarray:
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=reset
        )
        return self._sparse_as_csr(X)

    @staticmethod
    def _sparse_as_csr(X: Any) -> Any:
        """Sparse input stays sparse (CSR rows for the mini-batches): never densified."""
        return X.tocsr() if sp.issparse(X) else X

    def _dtype_for(self, X: np.ndarray) -> np.dtype[Any]:
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return X.dtype if X.dtype == np.float32 else np.dtype(np.float64)

    # ------------------------------------------------------------------ training
    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        incremental: bool,
        classes: Any = None,
        X_val: Any = None,
        y_val: Any = None,
        sample_weight_val: Any = None,
        resume_from: Any = None,
    ) -> _BaseMLP:
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "network_")
        reset = first or not (incremental or self.warm_start) or resume_from is not None
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset, y_numeric=self._y_numeric,
        )  # fmt: skip
        X = self._sparse_as_csr(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = self._encode_y(y, incremental=not reset, classes=classes)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
            if not np.all(sample_weight >= 0) or float(sample_weight.sum()) <= 0:
                raise ValueError(
                    "sample_weight must be non-negative and not all zero. Received: "
                    f"sample_weight with sum {float(np.sum(sample_weight))}"
                )
        validation: tuple[Any, ...] | None = None
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise ValueError("X_val and y_val must be given together.")
            Xv = self._check_X(X_val, reset=False)
            yv = np.asarray(y_val)
            if yv.ndim == 2 and yv.shape[1] == 1:
                yv = column_or_1d(yv)
            validation = (Xv, self._encode_y(yv, incremental=True))
            if sample_weight_val is not None:
                validation += (_check_sample_weight(sample_weight_val, Xv, dtype=Xv.dtype),)

        if reset:
            comm = self._communicator()
            self.network_ = self._make_network(X.shape[1], Y.shape[1], self._dtype_for(X), comm)
            self._take_user_weights()
            if comm is not None:
                from deltaprop.parallel import broadcast_parameters, check_replicated

                broadcast_parameters(self.network_, comm)
                data = X.data if sp.issparse(X) else X
                check_replicated(comm, X=data, Y=Y, sample_weight=sample_weight)
            self._trainer = self._make_trainer(self.network_, X.shape[0], incremental, comm)
            self.t_ = 0
        else:
            self._trainer.epochs = 1 if incremental else self.max_iter
            self._trainer.batch_size = self._batch_size(X.shape[0])
            self._trainer.early_stopping = self.early_stopping and not incremental
        trainer = self._trainer
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(self._hidden_sizes()) + 2
        self.out_activation_ = _SKLEARN_OUT[self.network_.output_activation.name]
        if isinstance(trainer.optimizer, LBFGS):  # set_params may have changed them
            trainer.optimizer.max_iter, trainer.optimizer.max_fun = self.max_iter, self.max_fun
        if resume_from is not None:
            self._resume(trainer, resume_from)
        epochs_before = len(trainer.history.loss)
        diverged: DivergenceError | None = None
        try:
            if trainer.communicator is None:
                trainer.fit(X, Y, sample_weight=sample_weight, validation_data=validation)
            else:  # a failing rank ends the whole MPI job instead of leaving the others waiting
                from deltaprop.parallel import abort_on_error

                with abort_on_error(trainer.communicator):
                    trainer.fit(X, Y, sample_weight=sample_weight, validation_data=validation)
        except DivergenceError as exc:
            diverged = exc
        if diverged is not None:
            self._after_divergence(trainer, diverged)
        self._record(trainer, incremental, epochs_before)
        return self

    def _resume(self, trainer: Trainer, path: Any) -> None:
        """Restore a checkpoint's run into the fresh trainer; train what is left of it.

        ``max_iter`` is the run's total number of epochs, the ones before the checkpoint
        included; with the same data and parameters the result is exactly the weights of
        the run that was never interrupted.
        """
        from deltaprop.io import load_checkpoint

        if isinstance(trainer.optimizer, LBFGS):
            raise ValueError("resume_from needs a stochastic solver; lbfgs keeps no state")
        done = int(load_checkpoint(path, trainer)["epoch"])
        if done >= self.max_iter:
            raise ValueError(
                f"the checkpoint '{path}' is at epoch {done}, and the run is to end at epoch "
                f"{self.max_iter}: nothing left to train; raise max_iter to go on"
            )
        trainer.epochs = self.max_iter - done

    def _after_divergence(self, trainer: Trainer, exc: DivergenceError) -> None:
        """The loss became NaN or infinite; the trainer kept the last finite weights.

        With early stopping the best weights so far are restored and a warning says what
        happened (the diverged epoch records NaN, as scikit-learn's curves do); without, the
        error is raised, with scikit-learn's wording first.
        """
        h = trainer.history
        if self.early_stopping and trainer.best_parameters is not None:
            self.network_.parameters[...] = trainer.best_parameters
            if trainer.best_buffers:
                self.network_.set_buffers(trainer.best_buffers)
            h.loss.append(math.nan)
            if h.val_score:
                h.val_loss.append(math.nan)
                h.val_score.append(math.nan)
            warnings.warn(f"{exc} The best weights (by validation) were restored.",
                          DivergenceWarning, stacklevel=4)  # fmt: skip
            return
        raise DivergenceError(
            "Solver produced non-finite parameter weights. The input data may contain large "
            f"values and need to be preprocessed. {exc}"
        ) from None

    def _take_user_weights(self) -> None:
        """Weights assigned to ``coefs_`` / ``intercepts_`` before the first fit start it."""
        coefs = self.__dict__.pop("_user_coefs", None)
        intercepts = self.__dict__.pop("_user_intercepts", None)
        if coefs is None and intercepts is None:
            return
        net = self.network_
        if coefs is not None:
            self._assign(coefs, [W.T for W in net.weights], "coefs_")
        if intercepts is not None:
            self._assign(intercepts, net.biases, "intercepts_")

    def _record(self, trainer: Trainer, incremental: bool, epochs_before: int) -> None:
        h: History = trainer.history
        self.history_ = h
        self.n_iter_ = len(h.loss) - epochs_before  # epochs of this call, as scikit-learn's
        self.t_ = trainer.samples_seen
        self.loss_curve_ = list(h.loss)
        result = getattr(trainer, "lbfgs_result", None)
        if result is not None and self.solver == "lbfgs":
            self.loss_ = float(result.fun)
        elif h.loss:
            self.loss_ = h.loss[-1]
        self.gradient_norms_ = np.array(h.grad_norms)
        self.validation_loss_curve_: list[float] | None = list(h.val_loss) if h.val_loss else None
        self.validation_scores_: list[float] | None
        self.best_validation_score_: float | None
        self.best_loss_: float | None
        if self.early_stopping and not incremental:
            self.validation_scores_ = list(h.val_score)
            self.best_validation_score_ = float(np.nanmax(h.val_score))
            self.best_loss_ = None
        else:
            self.validation_scores_ = list(h.val_score) if h.val_score else None
            self.best_validation_score_ = float(np.nanmax(h.val_score)) if h.val_score else None
            self.best_loss_ = float(np.nanmin(h.loss)) if h.loss else self.loss_
        if (
            not incremental
            and self.solver != "lbfgs"
            and not trainer.converged
            and not trainer.stop_training
            and len(h.loss) - epochs_before >= trainer.epochs
        ):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.solver == "lbfgs" and not incremental:
            if result is not None and result.status != 0:
                warnings.warn(
                    "lbfgs failed to converge after "
                    f"{result.nit} iteration(s) (status={result.status}): {result.message}. "
                    "Increase the number of iterations (max_iter) or scale the data.",
                    ConvergenceWarning,
                    stacklevel=3,
                )

    # ------------------------------------------------------------------ fitted views
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights in scikit-learn's ``(n_in, n_out)`` layout: transposed views of ``W[l]``.

        Assigning a list of arrays copies them into the network (before the first fit, they
        become its starting weights).
        """
        if "network_" not in self.__dict__ and "_user_coefs" in self.__dict__:
            return self.__dict__["_user_coefs"]
        check_is_fitted(self, "network_")
        return [W.T for W in self.network_.weights]

    @coefs_.setter
    def coefs_(self, value: list[np.ndarray]) -> None:
        if "network_" in self.__dict__:
            self._assign(value, [W.T for W in self.network_.weights], "coefs_")
        else:
            self.__dict__["_user_coefs"] = value

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases ``b[l]``, shape ``(n_out,)``: views into the network's buffer (assignable)."""
        if "network_" not in self.__dict__ and "_user_intercepts" in self.__dict__:
            return self.__dict__["_user_intercepts"]
        check_is_fitted(self, "network_")
        return list(self.network_.biases)

    @intercepts_.setter
    def intercepts_(self, value: list[np.ndarray]) -> None:
        if "network_" in self.__dict__:
            self._assign(value, list(self.network_.biases), "intercepts_")
        else:
            self.__dict__["_user_intercepts"] = value

    @staticmethod
    def _assign(values: Any, targets: list[np.ndarray], name: str) -> None:
        if len(values) != len(targets):
            raise ValueError(f"{name} needs {len(targets)} arrays. Received: {len(values)}")
        for i, (value, target) in enumerate(zip(values, targets, strict=True)):
            arr = np.asarray(value, dtype=target.dtype).reshape(target.shape) if np.size(
                value) == target.size else None  # fmt: skip
            if arr is None or not np.isfinite(arr).all():
                raise ValueError(
                    f"{name}[{i}] must be finite with shape {target.shape}. Received: "
                    f"shape {np.shape(value)}"
                )
            target[...] = arr

    @property
    def _optimizer(self) -> Any:
        """The optimizer in use (scikit-learn's private name; ``learning_rate`` is current)."""
        return self._trainer.optimizer

    @property
    def _no_improvement_count(self) -> int:
        """Epochs without improvement by ``tol`` (scikit-learn's private name)."""
        if "_trainer" not in self.__dict__:
            return int(self.__dict__.get("_pending_no_improvement", 0))
        return int(self._trainer.no_improvement)

    @_no_improvement_count.setter
    def _no_improvement_count(self, value: int) -> None:
        if "_trainer" in self.__dict__:
            self._trainer.no_improvement = int(value)
        else:
            self.__dict__["_pending_no_improvement"] = int(value)

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = self._check_X(X, reset=False)
        return self.network_._forward(self.network_.check_X(X), training=False)

    def transform(self, X: Any) -> np.ndarray:
        """The last hidden layer's activations, shape ``(n_samples, hidden_layer_sizes[-1])``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        """
        check_is_fitted(self, "network_")
        if self.network_.n_layers < 2:
            raise ValueError(
                "transform needs at least one hidden layer; hidden_layer_sizes is empty"
            )
        self._forward(X)
        return self.network_.dense[-2].A.copy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------ model files
    _STATE_ATTRS: ClassVar[tuple[str, ...]] = (
        "n_iter_", "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
        "best_validation_score_", "validation_loss_curve_", "n_outputs_", "n_layers_",
        "out_activation_", "n_features_in_",
    )  # fmt: skip

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able configuration and arrays for :func:`deltaprop.save` (no pickle).

        Holds the parameters (without callbacks), the network's architecture and flat
        parameters, batch-norm statistics, the fitted attributes, the classes, the history
        and, when set by the command line, ``preprocessing_`` (a ``(config, arrays)`` pair).
        Optimizer state is not part of a model file; checkpoints hold it.
        """
        check_is_fitted(self, "network_")
        params = {k: v for k, v in self.get_params().items() if k != "callbacks"}
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        fitted = {k: getattr(self, k) for k in self._STATE_ATTRS if hasattr(self, k)}
        config: dict[str, Any] = {
            "params": params,
            "network": self.network_.get_config(),
            "fitted": fitted,
            "history": self.history_.as_dict(),
            "extra": self._extra_state(),
        }
        if hasattr(self, "feature_names_in_"):
            config["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        arrays = {"parameters": np.asarray(self.network_.parameters)}
        for name, value in self.network_.buffers():
            arrays[f"buffer.{name}"] = np.asarray(value)
        preprocessing = getattr(self, "preprocessing_", None)
        if preprocessing is not None:
            pconf, parrays = preprocessing
            config["preprocessing"] = pconf
            for name, value in parrays.items():
                arrays[f"preprocessing.{name}"] = np.asarray(value)
        return config, arrays

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _set_extra_state(self, extra: dict[str, Any]) -> None:
        pass

    @classmethod
    def _from_model_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        """Rebuild a fitted estimator from :meth:`_get_model_state` output.

        Raises
        ------
        ValueError
            For any inconsistency: unknown parameters, a network that does not match the
            parameters, arrays of the wrong shape or dtype, non-finite weights.
        """
        if not isinstance(config, dict):
            raise ValueError("the estimator configuration must be a JSON object")
        for key in ("params", "network", "fitted", "history", "extra"):
            if key not in config:
                raise ValueError(f"the estimator configuration lacks {key!r}")
        params = config["params"]
        if not isinstance(params, dict):
            raise ValueError("'params' must be a JSON object")
        valid = set(cls().get_params())
        unknown = sorted(set(params) - valid)
        if unknown:
            raise ValueError(f"unknown estimator parameters: {', '.join(unknown)}")
        est = cls(**params)
        est._validate_params()
        net_config = config["network"]
        if not isinstance(net_config, dict):
            raise ValueError("'network' must be a JSON object")
        net = Network(**net_config)
        theta = arrays.get("parameters")
        if theta is None:
            raise ValueError("the file lacks the tensor 'parameters'")
        if theta.shape != net.parameters.shape or theta.dtype != net.dtype:
            raise ValueError(
                f"'parameters' has shape {theta.shape} and dtype {theta.dtype}; the architecture "
                f"needs shape {net.parameters.shape} and dtype {net.dtype}"
            )
        if not np.isfinite(theta).all():
            raise ValueError("'parameters' contains NaN or infinity")
        net.parameters[...] = theta
        expected = {f"buffer.{name}" for name, _ in net.buffers()}
        extra_arrays = {
            k for k in arrays if k != "parameters" and not k.startswith("preprocessing.")
        }
        if extra_arrays != expected:
            raise ValueError(
                f"buffers in the file {sorted(extra_arrays)} do not match the architecture's "
                f"{sorted(expected)}"
            )
        buffers = {}
        for name, value in net.buffers():
            arr = arrays[f"buffer.{name}"]
            if arr.shape != value.shape or not np.isfinite(arr).all():
                raise ValueError(f"buffer {name!r} has the wrong shape or non-finite values")
            buffers[name] = arr
        net.set_buffers(buffers)
        if len(net.layer_sizes) - 2 != len(est._hidden_sizes()):
            raise ValueError("the network does not match hidden_layer_sizes")
        est.network_ = net
        fitted = config["fitted"]
        if not isinstance(fitted, dict) or not set(fitted) <= set(cls._STATE_ATTRS):
            raise ValueError("'fitted' must be a JSON object of fitted attributes")
        for key, value in fitted.items():
            setattr(est, key, value)
        if fitted.get("n_features_in_") != net.layer_sizes[0]:
            raise ValueError("n_features_in_ does not match the network's input width")
        if "feature_names_in_" in config:
            names = config["feature_names_in_"]
            if not isinstance(names, list) or len(names) != net.layer_sizes[0]:
                raise ValueError("feature_names_in_ does not match the network's input width")
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est.history_ = History.from_dict(config["history"])
        est._set_extra_state(config["extra"])
        if "preprocessing" in config:
            parrays = {
                k[len("preprocessing.") :]: v
                for k, v in arrays.items()
                if k.startswith("preprocessing.")
            }
            est.preprocessing_ = (config["preprocessing"], parrays)
        est.gradient_norms_ = np.array(est.history_.grad_norms)
        est._trainer = est._make_trainer(net, 1, incremental=False, warn=False)
        est._trainer.history = est.history_
        return est


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by explicit backpropagation.

    A drop-in for :class:`sklearn.neural_network.MLPClassifier` (same parameters, defaults
    and fitted attributes), with more: see the module docstring. Binary problems use one
    sigmoid output and binary cross-entropy, multiclass a softmax and categorical
    cross-entropy, multilabel (a 2-D indicator ``y``) one sigmoid per label.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
    activation : str or list of str, default="relu"
        ``"identity"``, ``"logistic"``, ``"tanh"``, ``"relu"`` (as scikit-learn), and
        ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"softplus"``; a list gives one per hidden
        layer.
    solver : {"adam", "sgd", "lbfgs", "rmsprop", "adamw"}, default="adam"
    alpha : float, default=1e-4
        L2 penalty: the objective is ``Σ w L / Σ w + α/(2 Σ w) Σ_l ‖W[l]‖²`` per batch.
    batch_size : int or "auto", default="auto"
        ``min(200, n_samples)`` for ``"auto"``.
    learning_rate : {"constant", "invscaling", "adaptive", "step", "exponential", "cosine"}, default="constant"
        Schedule of the ``"sgd"`` solver (ignored by the others, as in scikit-learn).
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun
        As in scikit-learn. ``early_stopping`` monitors the validation accuracy and restores
        the best weights.
    dropout : float or list of float, default=0.0
        Inverted-dropout rate after each hidden layer, during training only.
    batch_norm : bool, default=False
        Batch normalization before each hidden activation.
    class_weight : dict, "balanced" or None, default=None
        Weights per class label, multiplied into the sample weights.
    weight_decay : float, default=0.01
        Decoupled weight decay of ``"adamw"``.
    dtype : {"float32", "float64"} or None, default=None
        Computation precision; ``None`` keeps float32 input in float32, else float64.
    callbacks : list of Callback or None, default=None
        :class:`deltaprop.train.trainer.Callback` objects called during training.
    distributed : bool or "auto", default=False
        Data-parallel training over MPI when run under ``mpiexec`` (see
        :mod:`deltaprop.parallel.mpi`); ``"auto"`` uses MPI when a launcher is detected.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray
        ``coefs_[i]`` has shape ``(n_in, n_out)`` (scikit-learn's layout, ``W[i+1]ᵀ``).
    intercepts_ : list of ndarray
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, t_,
    n_features_in_, feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As in scikit-learn.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when there is validation data.
    gradient_norms_ : ndarray of shape (n_iter_, n_layers_ - 1)
        ``‖dW[l]‖`` per epoch and layer, averaged over the epoch's mini-batches.
    network_ : Network
        The trained network.
    history_ : History

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from deltaprop import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=1000, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }
    _y_numeric = False

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: Any = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float | list[float] = 0.0,
        batch_norm: bool = False,
        class_weight: dict[Any, float] | str | None = None,
        weight_decay: float = 0.01,
        dtype: str | None = None,
        callbacks: list[Callback] | None = None,
        distributed: bool | str = False,
    ) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, batch_norm=batch_norm, weight_decay=weight_decay, dtype=dtype,
            callbacks=callbacks, distributed=distributed,
        )  # fmt: skip
        self.class_weight = class_weight

    def _loss_and_output(self, n_outputs: int) -> tuple[str, str]:
        if self._multiclass:
            return "categorical_crossentropy", "softmax"
        return "binary_crossentropy", "sigmoid"

    def _encode_y(self, y: Any, incremental: bool, classes: Any = None) -> np.ndarray:
        check_classification_targets(y)
        multilabel_y = type_of_target(y).startswith("multilabel")
        if not incremental:
            self._label_binarizer = LabelBinarizer()
            if multilabel_y:  # the labels are the indicator's columns; `classes` must agree
                self._label_binarizer.fit(y)
                if classes is not None and len(classes) != np.shape(y)[1]:
                    raise ValueError(
                        f"`classes` has {len(classes)} labels but `y` has {np.shape(y)[1]} columns"
                    )
            else:
                self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
            if classes is not None and not multilabel_y:
                unseen = sorted(set(unique_labels(y)) - set(self.classes_))
                if unseen:
                    raise ValueError(f"`y` has classes not in `classes`: {unseen}")
        else:
            if classes is not None and not multilabel_y:
                if set(np.asarray(classes).tolist()) != set(self.classes_.tolist()):
                    raise ValueError(
                        f"`classes={list(classes)}` is not the same as on the last call to "
                        f"partial_fit, was: {list(self.classes_)}"
                    )
            labels = unique_labels(y)
            if (
                self.warm_start
                and not hasattr(self, "_partial")
                and set(labels) != set(self.classes_)
            ):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {labels}"
                )
            if not set(labels) <= set(self.classes_):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                    f"'y' has {labels}."
                )
        self._multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        self._multiclass = not self._multilabel and len(self.classes_) > 2
        return self._label_binarizer.transform(y).astype(np.float64)

    def _class_weight(self) -> Any:
        cw = self.class_weight
        if cw is None or isinstance(cw, str):
            return cw
        table = {}
        for label, weight in cw.items():
            where = np.flatnonzero(self.classes_ == label)
            if where.size == 0:
                raise ValueError(
                    f"class_weight has a label not in classes_ {list(self.classes_)}. Received: {label!r}"
                )
            table[int(where[0])] = float(weight)
        return table

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        X_val: Any = None,
        y_val: Any = None,
        sample_weight_val: Any = None,
        resume_from: Any = None,
    ) -> MLPClassifier:
        """Fit the model to ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels (any hashable), or a binary indicator matrix for multilabel.
        sample_weight : array-like of shape (n_samples,), optional
        X_val, y_val, sample_weight_val : optional
            A validation set, evaluated every epoch (``validation_loss_curve_``,
            ``validation_scores_``) and used by ``early_stopping`` instead of a split.
        resume_from : path, optional
            A checkpoint written during an earlier fit of this estimator on the same data
            (``callbacks=[deltaprop.Checkpoint(path, every=N)]``): its weights, optimizer,
            schedule, random generators and history are restored and training continues
            up to ``max_iter`` epochs in all, ending with the weights of an uninterrupted
            run.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
                  sample_weight_val=sample_weight_val, resume_from=resume_from)  # fmt: skip
        return self

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One pass over ``X``, ``y`` (multilabel targets included).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array of shape (n_classes,), optional
            All the classes; required on the first call unless ``y`` is multilabel.
        """
        if not hasattr(self, "network_"):
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
        self._fit(X, y, sample_weight, incremental=True, classes=classes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)`` (columns follow ``classes_``)."""
        A = self._forward(X)
        if self._multiclass or self._multilabel:
            return A.copy()
        if len(self.classes_) == 1:  # a single class was seen: it has probability one
            return np.ones((A.shape[0], 1), dtype=A.dtype)
        Z = self.network_.dense[-1].Z  # both columns from the logit: no 1 - p cancellation
        return np.hstack([self.network_.output_activation.forward(-Z), A])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``; ``-inf`` where a probability underflows to 0."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, shape ``(n_samples,)`` (or an indicator matrix for multilabel)."""
        A = self._forward(X)
        if len(self.classes_) == 1 and not self._multilabel:  # a single class was seen
            return np.full(A.shape[0], self.classes_[0])
        if self._multiclass:
            return self.classes_[A.argmax(axis=1)]
        if self._multilabel:
            return (A > 0.5).astype(int)
        return self.classes_[(A[:, 0] > 0.5).astype(int)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _extra_state(self) -> dict[str, Any]:
        classes = self.classes_
        return {
            "classes": [c.item() if hasattr(c, "item") else c for c in classes],
            "classes_dtype": classes.dtype.str if classes.dtype.kind != "O" else "object",
            "y_type": self._label_binarizer.y_type_,
        }

    def _set_extra_state(self, extra: dict[str, Any]) -> None:
        kinds = {"object": "O"}
        dtype = extra.get("classes_dtype")
        if not isinstance(dtype, str) or (kinds.get(dtype) or np.dtype(dtype).kind) not in "biufUO":
            raise ValueError(f"unsupported classes dtype {dtype!r}")
        values = extra.get("classes")
        if not isinstance(values, list) or len(values) < 1:
            raise ValueError("'classes' must be a non-empty list")
        if any(not isinstance(v, str | int | float | bool) for v in values):
            raise ValueError("'classes' holds values that are not labels")
        classes = np.asarray(values, dtype=object if dtype == "object" else np.dtype(dtype))
        y_type = extra.get("y_type")
        if y_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"unsupported target type {y_type!r}")
        lb = LabelBinarizer()
        if y_type == "multilabel-indicator":
            lb.fit(np.eye(len(classes), dtype=int)[: max(2, len(classes))])
        else:
            lb.fit(classes)
        if len(lb.classes_) != len(classes):
            raise ValueError("'classes' has duplicate labels")
        lb.classes_ = classes
        self._label_binarizer = lb
        self.classes_ = classes
        self._multilabel = y_type == "multilabel-indicator"
        self._multiclass = not self._multilabel and len(classes) > 2
        n_out = 1 if not (self._multilabel or self._multiclass) else len(classes)
        if n_out != self.network_.layer_sizes[-1]:
            raise ValueError(
                f"{len(classes)} classes need {n_out} outputs; the network has "
                f"{self.network_.layer_sizes[-1]}"
            )


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by explicit backpropagation.

    A drop-in for :class:`sklearn.neural_network.MLPRegressor`; parameters as
    :class:`MLPClassifier` (without ``class_weight``), plus:

    Parameters
    ----------
    loss : {"squared_error", "absolute_error", "huber", "poisson"}, default="squared_error"
        ``"poisson"`` uses the exp output (the log link), as scikit-learn does; the others
        the identity.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from deltaprop import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=1000,
    ...                    random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.5
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(_REGRESSION_LOSSES))],
    }
    _y_numeric = True

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: Any = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float | list[float] = 0.0,
        batch_norm: bool = False,
        weight_decay: float = 0.01,
        dtype: str | None = None,
        callbacks: list[Callback] | None = None,
        distributed: bool | str = False,
    ) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, batch_norm=batch_norm, weight_decay=weight_decay, dtype=dtype,
            callbacks=callbacks, distributed=distributed,
        )  # fmt: skip
        self.loss = loss

    def _loss_and_output(self, n_outputs: int) -> tuple[str, str]:
        return _REGRESSION_LOSSES[self.loss]

    def _encode_y(self, y: Any, incremental: bool, classes: Any = None) -> np.ndarray:
        Y = np.asarray(y, dtype=np.float64)
        if not np.isfinite(Y).all():
            raise ValueError("Input y contains NaN or infinity.")
        if self.loss == "poisson" and Y.size and Y.min() < 0:
            raise ValueError(
                f"loss='poisson' needs non-negative targets. Received: y with minimum {Y.min()}"
            )
        if not incremental:
            self._y_1d = Y.ndim == 1
        return Y.reshape(-1, 1) if Y.ndim == 1 else Y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        X_val: Any = None,
        y_val: Any = None,
        sample_weight_val: Any = None,
        resume_from: Any = None,
    ) -> MLPRegressor:
        """Fit the model to ``X`` and ``y`` (single or multi-output).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        X_val, y_val, sample_weight_val, resume_from : optional
            A validation set and a checkpoint to resume (see :meth:`MLPClassifier.fit`).
        """
        self._fit(X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
                  sample_weight_val=sample_weight_val, resume_from=resume_from)  # fmt: skip
        return self

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One pass over ``X``, ``y``."""
        self._fit(X, y, sample_weight, incremental=True)
        return self

    def _extra_state(self) -> dict[str, Any]:
        return {"y_1d": bool(self._y_1d)}

    def _set_extra_state(self, extra: dict[str, Any]) -> None:
        y_1d = extra.get("y_1d")
        if not isinstance(y_1d, bool):
            raise ValueError("'y_1d' must be true or false")
        if y_1d and self.network_.layer_sizes[-1] != 1:
            raise ValueError("a 1-D target needs one output")
        self._y_1d = y_1d

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape ``(n_samples,)`` or ``(n_samples, n_outputs)``."""
        A = self._forward(X)
        return A.ravel() if self._y_1d else A.copy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        if self.loss == "poisson":
            tags.target_tags.positive_only = True
        return tags
