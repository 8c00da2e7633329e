"""The estimators' shared base: parameters, fitting, the fitted views, ``transform``.

Every parameter that scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` has is here with the
same name, meaning and default, so swapping the import is enough for existing code. Beyond
them: per-layer activations (a list for ``activation``), the solvers ``"rmsprop"`` and
``"adamw"``, every learning-rate schedule for ``"sgd"``, ``dropout``, ``batch_norm``,
``class_weight``, regression losses (``"absolute_error"``, ``"huber"``), ``dtype``,
``callbacks``, a validation set passed to :meth:`fit` (``X_val``, ``y_val``), validation loss
curves, per-layer gradient norms, and :meth:`transform` (the last hidden layer).

No numerics live here: the estimators translate parameters and labels, and hand the work to
:class:`~deltaprop.core.network.Network` and :class:`~deltaprop.train.trainer.Trainer`
(built by :mod:`deltaprop.sklearn.training`; the parameters' table is
:mod:`deltaprop.sklearn.params`, the state in files :mod:`deltaprop.sklearn.state`).

Notes
-----
``coefs_[i]`` has scikit-learn's shape ``(n_in, n_out)``: it is ``W[i+1]ᵀ``, a transposed view
of the network's weight (which has the seeds' and PyTorch's ``(n_out, n_in)``). Writing into
it changes the network.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from deltaprop.core import check_sample_weight
from deltaprop.data import Dataset
from deltaprop.optim import LBFGS
from deltaprop.sklearn.errors import DivergenceWarning, NothingLeftToTrainError, naming_text_columns
from deltaprop.sklearn.fit_tasks import fit_task
from deltaprop.sklearn.params import MAY_CHANGE as _MAY_CHANGE
from deltaprop.sklearn.params import PARAMETER_CONSTRAINTS, SKLEARN_OUT, copy_into_layers
from deltaprop.sklearn.refit import continued_trainer
from deltaprop.sklearn.state import ModelState
from deltaprop.sklearn.streamed import fit_dataset
from deltaprop.sklearn.training import forget_fit, interrupted_here
from deltaprop.train import Callback, Checkpoint, DivergenceError, History, Trainer, load_checkpoint
from deltaprop.train.checkpoint import ResumeFrom, data_fingerprint, jsonable, run_changes

__all__ = ["BaseMLP", "DivergenceWarning", "NothingLeftToTrainError", "is_stochastic"]

_NAMES = {"epochs": "max_iter"}
"""The trainer's setting names as the estimators call them, for ``stop_message_``."""


def is_stochastic(est: BaseMLP) -> bool:
    """``partial_fit`` exists for the stochastic solvers only (``available_if``)."""
    if est.solver == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not stochastic."
        )
    return True


class BaseMLP(CallbackSupportMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, ModelState):
    """Parameters, validation and training shared by the two estimators."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = dict(PARAMETER_CONSTRAINTS)

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
        early_stopping_monitor: str = "val_score",
        max_fun: int = 15000,
        dropout: float | list[float] = 0.0,
        batch_norm: bool = False,
        weight_decay: float = 0.01,
        init: str = "sklearn_uniform",
        optimizer_style: str = "keras",
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
        self.early_stopping_monitor = early_stopping_monitor
        self.max_fun = max_fun
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_decay = weight_decay
        self.init = init
        self.optimizer_style = optimizer_style
        self.dtype = dtype
        self.callbacks = callbacks
        self.distributed = distributed

    def _encode_y(self, y: Any, incremental: bool, classes: Any = None) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ input
    def _check_X(self, X: Any, reset: bool) -> np.ndarray:
        with naming_text_columns(X, type(self).__name__):
            X = validate_data(self, X, accept_sparse=["csr", "csc"],
                              dtype=(np.float64, np.float32), reset=reset)  # fmt: skip
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
    ) -> BaseMLP:
        if isinstance(X, Dataset):  # out of core (deltaprop.sklearn.streamed)
            others = {
                "X_val": X_val,
                "y_val": y_val,
                "classes": classes,
                "resume_from": resume_from,
            }
            return fit_dataset(self, X, y, sample_weight, incremental, others)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "network_")
        reset = first or not (incremental or self.warm_start) or resume_from is not None
        user_weights = {k: v for k, v in vars(self).items() if k.startswith("_user_")}
        with naming_text_columns(X, type(self).__name__):
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
            sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype, np)
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
        self._check_validation_rows(incremental, given=validation is not None)

        if reset:
            comm = self._communicator()
            try:
                self.network_ = self._make_network(X.shape[1], Y.shape[1], self._dtype_for(X), comm)
            except MemoryError:  # a first fit: unfitted still
                if first:
                    forget_fit(self, user_weights)
                raise
            self._take_user_weights()
            if comm is not None:
                from deltaprop.parallel import broadcast_parameters, check_replicated

                broadcast_parameters(self.network_, comm)
                data = X.data if sp.issparse(X) else X
                check_replicated(comm, X=data, Y=Y, sample_weight=sample_weight)
            self._trainer = self._make_trainer(self.network_, X.shape[0], incremental, comm)
            self.t_ = 0
        else:  # set_params since the last fit take effect (deltaprop.sklearn.refit)
            self._trainer = continued_trainer(self, self._trainer, X.shape[0], incremental)
        trainer = self._trainer
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(self._hidden_sizes()) + 2
        self.out_activation_ = SKLEARN_OUT[self.network_.output_activation.name]
        if isinstance(trainer.optimizer, LBFGS):  # set_params may have changed them
            trainer.optimizer.max_iter, trainer.optimizer.max_fun = self.max_iter, self.max_fun
        checkpoints = [cb for cb in trainer.callbacks if isinstance(cb, Checkpoint)]
        if checkpoints or resume_from is not None:  # what the checkpoints recognise a run by
            params = self.get_params(deep=False).items()
            fingerprint = {"settings": jsonable({k: v for k, v in params if k not in _MAY_CHANGE}),
                           "data": data_fingerprint(X, Y, sample_weight, *(validation or ()))}  # fmt: skip
            for cb in checkpoints:
                cb.run["estimator"] = fingerprint
        if resume_from is not None:
            self._resume(trainer, resume_from, fingerprint, checkpoints)
        epochs_before = 0 if resume_from is not None else len(trainer.history.loss)
        diverged: DivergenceError | None = None
        with fit_task(self, trainer, X, y, sample_weight):  # scikit-learn's callbacks' task
            try:
                if trainer.communicator is None:
                    trainer.fit(X, Y, sample_weight=sample_weight, validation_data=validation)
                else:  # a failing rank ends the whole MPI job, not leaving the others waiting
                    from deltaprop.parallel import abort_on_error

                    with abort_on_error(trainer.communicator, passing=(DivergenceError,)):
                        trainer.fit(X, Y, sample_weight=sample_weight, validation_data=validation)
            except DivergenceError as exc:
                diverged = exc
            except KeyboardInterrupt:  # before a first epoch: nothing to keep
                if reset:
                    forget_fit(self, user_weights)
                raise
            if diverged is not None:
                self._after_divergence(trainer, diverged)
            interrupted_here(trainer)
            self._record(trainer, incremental, epochs_before)
        return self

    def _resume(self, trainer: Trainer, path: Any, fingerprint: dict[str, Any],
                checkpoints: list[Checkpoint]) -> None:  # fmt: skip
        """Restore a checkpoint's run into the fresh trainer; train what is left of it.

        ``max_iter`` is the run's total number of epochs, the ones before the checkpoint
        included (``n_iter_`` counts them all); with the same data and parameters the result
        is exactly the weights of the run that was never interrupted. Other parameters
        (all but ``max_iter``, ``tol``, ``n_iter_no_change``, ``max_fun``, ``callbacks``,
        ``verbose``, ``warm_start``, ``distributed``) or other data are refused, unless
        ``resume_from=ResumeFrom(path, allow_changes=True)`` (then a warning names them).
        """
        allow = isinstance(path, ResumeFrom) and path.allow_changes
        path = path.path if isinstance(path, ResumeFrom) else path
        if isinstance(trainer.optimizer, LBFGS):
            raise ValueError("resume_from needs a stochastic solver; lbfgs keeps no state")
        info = load_checkpoint(path, trainer)
        changes = run_changes(info["run"], "estimator", fingerprint)
        if changes and not allow:
            raise ValueError(f"the checkpoint '{path}' was written by a run with other parameters "
                             f"or data: {'; '.join(changes)}. Resume with the same ones, or pass "
                             "resume_from=ResumeFrom(path, allow_changes=True)")  # fmt: skip
        if changes:
            warnings.warn(f"resuming '{path}' with changes: {'; '.join(changes)}", stacklevel=4)
        for cb in checkpoints:  # the run's training time goes on from the checkpoint's
            cb.seconds = float((info["run"] or {}).get("seconds", 0.0))
        done = int(info["epoch"])
        if done >= self.max_iter:
            raise NothingLeftToTrainError(path, done, self.max_iter)
        trainer.epochs = self.max_iter - done

    def _after_divergence(self, trainer: Trainer, exc: DivergenceError) -> None:
        """The loss became NaN or infinite; the trainer kept the last finite weights.

        A finite loss that exploded (the trainer's divergence policy,
        :mod:`deltaprop.train.stopping`) keeps the last good weights and warns
        (``DivergenceWarning``, a ``ConvergenceWarning``), as a fit that scikit-learn would
        finish does not raise. With early stopping the best weights so far are
        restored and a warning says what happened (the diverged epoch records NaN, as scikit-learn's curves do); without, the
        error is raised, with scikit-learn's wording first.
        """
        h = trainer.history
        if h.stop is not None:  # in the estimator's words: it has no clipping option
            h.stop = dataclasses.replace(h.stop, detail=exc.describe(clip_name=None))
        if exc.threshold is not None and not self._early_stops():  # finite: keep, warn
            h.loss.append(math.nan)  # the diverged epoch, as the early-stopping path records
            warnings.warn(f"{exc.describe(clip_name=None)}", DivergenceWarning, stacklevel=4)
            return
        if self._early_stops() and trainer.restore_best():  # trainer.net is network_
            if h.stop is not None and trainer.best_epoch is not None:
                h.stop = dataclasses.replace(h.stop, best_epoch=trainer.best_epoch + 1)
            h.loss.append(math.nan)
            if h.val_score:
                h.val_loss.append(math.nan)
                h.val_score.append(math.nan)
            text = exc.describe(clip_name=None)
            warnings.warn(f"{text} The best weights (by validation) were restored.",
                          DivergenceWarning, stacklevel=4)  # fmt: skip
            return
        what = "produced non-finite parameter weights" if exc.threshold is None else (
            "diverged")  # fmt: skip
        raise exc.prefaced(
            f"Solver {what}. The input data may contain large values and need to be preprocessed.",
            clip_name=None,  # the estimators have no clipping option
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
        self.n_iter_ = len(h.loss) - epochs_before  # this call's (a resumed run's: all of them)
        lbfgs = self.solver == "lbfgs"
        if not lbfgs:  # scikit-learn's t_ counts the stochastic solvers' samples only
            self.t_ = trainer.samples_seen
        self.loss_curve_ = list(h.loss)  # lbfgs too: the command's reports read it
        result = getattr(trainer, "lbfgs_result", None)
        if result is not None and lbfgs:
            self.loss_ = float(result.fun)
        elif h.loss:
            self.loss_ = h.loss[-1]
        self.gradient_norms_ = np.array(h.grad_norms)
        stop = h.stop
        self.stop_reason_: str | None = None if stop is None else stop.reason
        names = {"epochs": "epochs per partial_fit call"} if incremental else _NAMES
        self.stop_message_: str | None = None if stop is None else stop.describe(names)
        self.validation_loss_curve_: list[float] | None = list(h.val_loss) if h.val_loss else None
        self.validation_scores_: list[float] | None
        self.best_validation_score_: float | None
        self.best_loss_: float | None
        if self._early_stops(incremental):
            self.validation_scores_ = list(h.val_score)
            self.best_validation_score_ = float(np.nanmax(h.val_score))
            self.best_loss_ = None
        else:
            self.validation_scores_ = list(h.val_score) if h.val_score else None
            self.best_validation_score_ = float(np.nanmax(h.val_score)) if h.val_score else None
            finite = [v for v in h.loss if np.isfinite(v)]
            self.best_loss_ = float(min(finite)) if finite else self.loss_
        if lbfgs:  # as scikit-learn's lbfgs: no best_loss_ (the scores: None without X_val)
            del self.best_loss_
        if not incremental and not lbfgs and self.stop_reason_ == "epochs":
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if lbfgs and not incremental:
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
        copy_into_layers(values, targets, name)

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

    def _forward(self, X: Any, logits: bool = False, batch_size: int | None = None) -> np.ndarray:
        """The network's output ``A[L]`` (or its logits ``Z[L]``), shape ``(n_samples, n_L)``:
        a fresh array, computed ``batch_size`` rows at a time (default: a few MiB per layer)
        with no cache left on the network (:mod:`deltaprop.core.evaluation`). Its dtype is
        scikit-learn's, that of ``X`` and the weights together: float64 for float64 rows
        through a float32 network (computed in float32)."""
        check_is_fitted(self, "network_")
        X = self._check_X(X, reset=False)
        A = self.network_.forward(X, logits=logits, batch_size=batch_size)
        return A.astype(np.result_type(X.dtype, A.dtype), copy=False)

    def transform(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The last hidden layer's activations, shape ``(n_samples, hidden_layer_sizes[-1])``;
        their names are :meth:`get_feature_names_out`'s (``mlpclassifier0``, ...), so that a
        pipeline's ``set_output(transform="pandas")`` works.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        batch_size : int, optional
            Rows per forward batch, as in ``predict``.
        """
        self._n_features_out  # noqa: B018  (raises unless fitted, with a hidden layer)
        X = self._check_X(X, reset=False)
        return self.network_.hidden_activations(X, batch_size=batch_size)[-1].copy()

    @property
    def _n_features_out(self) -> int:
        """The width of the last hidden layer: what :meth:`transform` returns."""
        check_is_fitted(self, "network_")
        if self.network_.n_layers < 2:
            raise ValueError(
                "transform needs at least one hidden layer; hidden_layer_sizes is empty"
            )
        return int(self.network_.layer_sizes[-2])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
