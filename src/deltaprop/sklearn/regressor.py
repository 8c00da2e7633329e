"""``MLPRegressor``: single- and multi-output regression (scikit-learn's face)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if

from deltaprop.sklearn.base import BaseMLP, is_stochastic
from deltaprop.sklearn.params import REGRESSION_LOSSES
from deltaprop.sklearn.state import register_estimator
from deltaprop.train import Callback

__all__ = ["MLPRegressor"]


class MLPRegressor(RegressorMixin, BaseMLP):
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
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
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
        self.loss = loss

    def _loss_and_output(self, n_outputs: int) -> tuple[str, str]:
        return REGRESSION_LOSSES[self.loss]

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
        y: Any = None,
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
            Or a :class:`deltaprop.data.Dataset`, trained on out of core (``y`` omitted;
            :func:`deltaprop.sklearn.streamed.fit_dataset`).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        X_val, y_val, sample_weight_val, resume_from : optional
            A validation set and a checkpoint to resume (see :meth:`MLPClassifier.fit`).
        """
        self._fit(X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
                  sample_weight_val=sample_weight_val, resume_from=resume_from)  # fmt: skip
        return self

    @available_if(is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MLPRegressor:
        """One pass over ``X``, ``y`` (``y`` required; a :class:`deltaprop.data.Dataset`
        ``X`` is refused with a ``ValueError``: it is fit by ``fit(dataset)``)."""
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

    def predict(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """Predictions, shape ``(n_samples,)`` or ``(n_samples, n_outputs)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        batch_size : int, optional
            Rows per forward batch; by default a few MiB per layer. The memory is the
            output plus one batch.
        """
        A = self._forward(X, batch_size=batch_size)  # a fresh array
        return A.ravel() if self._y_1d else A

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        if self.loss == "poisson":
            tags.target_tags.positive_only = True
        return tags


register_estimator(MLPRegressor)
