"""``MLPClassifier``: binary, multiclass and multilabel classification (scikit-learn's face)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted

from deltaprop.data import Dataset
from deltaprop.sklearn.base import BaseMLP, is_stochastic
from deltaprop.sklearn.state import register_estimator
from deltaprop.train import Callback

__all__ = ["MLPClassifier"]


class MLPClassifier(ClassifierMixin, BaseMLP):
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
        Schedule of the ``"sgd"`` solver; scikit-learn's three are ignored by the others (as
        there), ``"step"``, ``"exponential"`` and ``"cosine"`` drive every stochastic solver.
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun
        As in scikit-learn (each fit reads them again: :mod:`deltaprop.sklearn.refit`).
        ``early_stopping`` (stochastic solvers only; ``"lbfgs"`` ignores it) monitors what
        ``early_stopping_monitor`` says and restores the best weights.
    early_stopping_monitor : {"val_score", "val_loss"}, default="val_score"
        The validation accuracy (scikit-learn's rule) or the validation loss (Keras's).
    dropout : float or list of float, default=0.0
        Inverted-dropout rate after each hidden layer, during training only.
    batch_norm : bool, default=False
        Batch normalization before each hidden activation.
    class_weight : dict, "balanced" or None, default=None
        Weights per class label, multiplied into the sample weights.
    weight_decay : float, default=0.01
        Decoupled weight decay of ``"adamw"``.
    init : str, default="sklearn_uniform"
        The initializer of every layer's ``W`` (:mod:`deltaprop.core.initializers`; ``"auto"``:
        the Network's rule, He-normal for ReLU-like layers; biases then start at zero). The
        default is scikit-learn's MLP's: ``W`` and ``b`` from ``U(±√(factor/(n_in + n_out)))``,
        ``factor`` 6, or 2 for a logistic hidden activation.
    optimizer_style : {"keras", "torch"}, default="keras"
        The update rule of ``"sgd"``, ``"adam"`` and ``"adamw"``
        (:class:`deltaprop.optim.SGD`'s ``style``): ``"keras"``, scikit-learn's and Keras's
        (momentum kept as a step, Adam's ``epsilon`` on the uncorrected root), or
        ``"torch"``, PyTorch's, the :class:`~deltaprop.train.Trainer`'s (the two differ
        once the learning rate changes, and in Adam's first steps).
    dtype : {"float32", "float64"} or None, default=None
        Computation precision; ``None`` keeps float32 input in float32, else float64.
    callbacks : list of Callback or None, default=None
        :class:`deltaprop.train.trainer.Callback` objects called during training.
    distributed : bool or "auto", default=False
        Data-parallel training over MPI when run under ``mpiexec`` (see
        :mod:`deltaprop.parallel`); ``"auto"`` uses MPI when a launcher is detected.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray
        ``coefs_[i]`` has shape ``(n_in, n_out)`` (scikit-learn's layout, ``W[i+1]ᵀ``).
    intercepts_ : list of ndarray
    loss_, best_loss_ (not with "lbfgs"), loss_curve_, validation_scores_,
    best_validation_score_, t_ (0 with "lbfgs"),
    n_features_in_, feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As in scikit-learn.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when there is validation data.
    gradient_norms_ : ndarray of shape (n_iter_, n_layers_ - 1)
        ``‖dW[l]‖`` per epoch and layer, averaged over the epoch's mini-batches.
    network_ : Network
        The trained network.
    history_ : History
    stop_reason_ : str
        Why the last fit stopped: ``"epochs"`` (``max_iter`` reached), ``"no_improvement"``
        (``tol`` and ``n_iter_no_change`` on the training loss), ``"early_stopping"``,
        ``"diverged"`` (with ``early_stopping``: the best weights restored),
        ``"callback"``, or with ``solver="lbfgs"`` ``"converged"`` (SciPy's gradient or
        loss test) or ``"solver"`` (any other end SciPy reports, its message kept); one of
        :data:`deltaprop.train.stopping.STOP_REASONS`.
    stop_message_ : str
        The same as an exact sentence with the epoch and the counts.

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
        **BaseMLP._parameter_constraints,
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
        early_stopping_monitor: str = "val_score",
        max_fun: int = 15000,
        dropout: float | list[float] = 0.0,
        batch_norm: bool = False,
        class_weight: dict[Any, float] | str | None = None,
        weight_decay: float = 0.01,
        init: str = "sklearn_uniform",
        optimizer_style: str = "keras",
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
            early_stopping_monitor=early_stopping_monitor,
            dropout=dropout, batch_norm=batch_norm, weight_decay=weight_decay, init=init,
            optimizer_style=optimizer_style,
            dtype=dtype,
            callbacks=callbacks, distributed=distributed,
        )  # fmt: skip
        self.class_weight = class_weight

    def _loss_and_output(self, n_outputs: int) -> tuple[str, str]:
        if self._multiclass:
            return "categorical_crossentropy", "softmax"
        return "binary_crossentropy", "sigmoid"

    def _encode_y(self, y: Any, incremental: bool, classes: Any = None) -> np.ndarray:
        check_classification_targets(y)
        # a 1-D y is never multilabel (an indicator is 2-D): no second type_of_target pass
        multilabel_y = not (isinstance(y, np.ndarray) and y.ndim == 1) and type_of_target(
            y).startswith("multilabel")  # fmt: skip
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
                    raise ValueError(
                        f"`y` has classes not in `classes`: {np.asarray(unseen).tolist()}"
                    )
        else:
            if classes is not None and not multilabel_y:
                if set(np.asarray(classes).tolist()) != set(self.classes_.tolist()):
                    raise ValueError(
                        f"`classes={np.asarray(classes).tolist()}` is not the same as on the last call "
                        f"to partial_fit, was: {self.classes_.tolist()}"
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
        return _binarize(self._label_binarizer, y)

    def _class_weight(self) -> Any:
        cw = self.class_weight
        if cw is None or isinstance(cw, str):
            return cw
        table = {}
        for label, weight in cw.items():
            where = np.flatnonzero(self.classes_ == label)
            if where.size == 0:
                raise ValueError(
                    f"class_weight has a label not in classes_ {self.classes_.tolist()}. "
                    f"Received: {np.asarray(label).tolist()!r}"
                )
            table[int(where[0])] = float(weight)
        return table

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: Any,
        y: Any = None,
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
            Or a :class:`deltaprop.data.Dataset`, trained on out of core (``y`` omitted;
            :func:`deltaprop.sklearn.streamed.fit_dataset`).
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

    @available_if(is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: Any, y: Any = None, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One pass over ``X``, ``y`` (multilabel targets included).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Required (a :class:`deltaprop.data.Dataset` ``X``, out of core, is refused
            with a ``ValueError``: it is fit by ``fit(dataset)``).
        sample_weight : array-like of shape (n_samples,), optional
        classes : array of shape (n_classes,), optional
            All the classes; required on the first call unless ``y`` is multilabel.
        """
        if not hasattr(self, "network_") and not isinstance(X, Dataset):
            if classes is None and y is not None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
        self._fit(X, y, sample_weight, incremental=True, classes=classes)
        return self

    def predict_proba(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)`` (columns follow ``classes_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        batch_size : int, optional
            Rows per forward batch; by default a few MiB per layer. The memory is the
            output plus one batch.
        """
        check_is_fitted(self, "network_")
        if self._multiclass or self._multilabel:
            return self._forward(X, batch_size=batch_size)  # a fresh array
        if len(self.classes_) == 1:  # a single class was seen: it has probability one
            A = self._forward(X, batch_size=batch_size)
            return np.ones((A.shape[0], 1), dtype=A.dtype)
        # both columns from the logit: no 1 - p cancellation
        Z = self._forward(X, logits=True, batch_size=batch_size)
        sigmoid = self.network_.output_activation
        proba = np.empty((Z.shape[0], 2), dtype=Z.dtype)
        proba[:, :1] = sigmoid.forward(-Z)
        proba[:, 1:] = sigmoid.forward(Z)
        return proba

    def predict_log_proba(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """``log(predict_proba(X))``; ``-inf`` where a probability underflows to 0."""
        proba = self.predict_proba(X, batch_size=batch_size)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def predict(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """Predicted labels, shape ``(n_samples,)`` (or an indicator matrix for multilabel).

        ``batch_size``: rows per forward batch, as in :meth:`predict_proba`.
        """
        A = self._forward(X, batch_size=batch_size)
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


def _binarize(lb: LabelBinarizer, y: Any) -> np.ndarray:
    """``lb.transform(y)`` as float64, shape ``(n_samples, n_outputs)``.

    A 1-D numeric or string ``y`` of seen binary or multiclass labels is indexed straight
    into the one-hot rows (a binary ``y``: the column of the second class), which gives
    the same array as scikit-learn's ``label_binarize`` without its ~1.5 ms of checks per
    call; anything else (object labels, one class, multilabel) goes through ``lb``.
    """
    classes = lb.classes_
    k = len(classes)
    numbers = "biuf"
    same_kind = (
        isinstance(y, np.ndarray)
        and y.ndim == 1
        and (
            (y.dtype.kind in numbers and classes.dtype.kind in numbers)
            or (y.dtype.kind == "U" and classes.dtype.kind == "U")
        )
    )
    two_or_more = (lb.y_type_ == "multiclass" and k > 2) or (lb.y_type_ == "binary" and k == 2)
    if same_kind and two_or_more:
        idx = np.searchsorted(classes, y)
        if idx.size and idx.max() < k and np.array_equal(classes[idx], y):  # every label seen
            if k == 2:
                return (idx == 1).astype(np.float64).reshape(-1, 1)
            Y = np.zeros((y.size, k))
            Y[np.arange(y.size), idx] = 1.0
            return Y
    return lb.transform(y).astype(np.float64)


register_estimator(MLPClassifier)
