"""The estimators' hyper-parameters: the names they accept and scikit-learn's constraint table.

``BaseMLP._parameter_constraints`` is :data:`PARAMETER_CONSTRAINTS`; scikit-learn checks it in
``fit`` (``_fit_context``). The classifier adds ``class_weight``, the regressor ``loss``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from deltaprop.core import hidden_activation_names

__all__ = [
    "ACTIVATION_NAMES",
    "EARLY_STOPPING_MONITORS",
    "MAY_CHANGE",
    "PARAMETER_CONSTRAINTS",
    "REGRESSION_LOSSES",
    "SCHEDULES",
    "SKLEARN_OUT",
    "SKLEARN_SCHEDULES",
    "SOLVERS",
    "check_hidden_activations",
    "check_hidden_sizes",
    "copy_into_layers",
]

SOLVERS = {"lbfgs", "sgd", "adam", "rmsprop", "adamw"}
SCHEDULES = {"constant", "invscaling", "adaptive", "step", "exponential", "cosine"}
SKLEARN_SCHEDULES = {"constant", "invscaling", "adaptive"}
"""scikit-learn's ``learning_rate`` values: as there, they drive the ``"sgd"`` solver only.
The others of :data:`SCHEDULES` are deltaprop's and drive every stochastic solver."""
EARLY_STOPPING_MONITORS = {"val_score", "val_loss"}
"""What ``early_stopping_monitor`` may name: the validation score (scikit-learn's rule, the
default) or the validation loss (Keras's ``monitor="val_loss"``)."""
ACTIVATION_NAMES = set(hidden_activation_names())
"""The hidden activations and their aliases (scikit-learn's ``"logistic"`` among them): the
same names the command accepts."""
SKLEARN_OUT = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity", "exp": "exp"}
"""scikit-learn's ``out_activation_`` name of each output activation."""
REGRESSION_LOSSES = {
    "squared_error": ("mean_squared_error", "identity"),
    "absolute_error": ("mean_absolute_error", "identity"),
    "huber": ("huber", "identity"),
    "poisson": ("poisson", "exp"),
}
"""The regressor's ``loss``: the network's loss and output activation."""

PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(ACTIVATION_NAMES), list, tuple],
    "solver": [StrOptions(SOLVERS)],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions(SCHEDULES)],
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
    "early_stopping_monitor": [StrOptions(EARLY_STOPPING_MONITORS)],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
    "batch_norm": ["boolean"],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "init": [str],
    "optimizer_style": [StrOptions({"keras", "torch"})],
    "dtype": [None, StrOptions({"float32", "float64"})],
    "callbacks": [None, list, tuple],
    "distributed": ["boolean", StrOptions({"auto"})],
}


def check_hidden_sizes(hidden_layer_sizes: Any) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive ints (one int is one layer)."""
    sizes = hidden_layer_sizes
    if isinstance(sizes, Integral):
        sizes = [sizes]
    sizes = list(sizes)
    for s in sizes:
        if isinstance(s, bool | np.bool_) or not isinstance(s, Integral) or s <= 0:
            raise ValueError(
                "hidden_layer_sizes must be positive integers, one per hidden layer. "
                f"Received: hidden_layer_sizes={hidden_layer_sizes!r} (size {s!r})"
            )
    return [int(s) for s in sizes]


def copy_into_layers(values: Any, targets: list[np.ndarray], name: str) -> None:
    """Copy the arrays ``values`` into ``targets`` (``coefs_``'s or ``intercepts_``'s views),
    all checked first (count, size, numeric, finite): a refusal leaves every target as it was.
    """
    values = list(values)
    if len(values) != len(targets):
        raise ValueError(f"{name} needs {len(targets)} arrays. Received: {len(values)} arrays")
    arrays = []
    for i, (value, target) in enumerate(zip(values, targets, strict=True)):
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}[{i}] must be a numeric array. Received: {exc}") from None
        if arr.dtype.kind not in "biuf" or arr.size != target.size:
            raise ValueError(
                f"{name}[{i}] must be a real array of shape {target.shape}. "
                f"Received: shape {arr.shape}, dtype {arr.dtype}"
            )
        arr = arr.astype(target.dtype).reshape(target.shape)
        finite = np.isfinite(arr)
        if not finite.all():
            j = np.unravel_index(int(np.argmin(finite)), arr.shape)
            raise ValueError(
                f"{name}[{i}] must be finite. Received: {name}[{i}] of shape {arr.shape} "
                f"holding {arr[j]} at {tuple(int(k) for k in j)} "
                f"({int(arr.size - finite.sum())} non-finite)"
            )
        arrays.append(arr)
    for arr, target in zip(arrays, targets, strict=True):
        target[...] = arr


def check_hidden_activations(activation: Any, n_hidden: int) -> list[str]:
    """One activation name per hidden layer, from one name or a list of them."""
    act = activation
    if isinstance(act, str):
        return [act] * n_hidden
    acts = list(act)
    if len(acts) != n_hidden:
        raise ValueError(
            f"activation must be one name or one per hidden layer ({n_hidden}). "
            f"Received: activation={act!r}"
        )
    for a in acts:
        if a not in ACTIVATION_NAMES:
            raise ValueError(
                f"activation entries must be among {sorted(ACTIVATION_NAMES)}. Received: {a!r}"
            )
    return acts


MAY_CHANGE = frozenset({"max_iter", "callbacks", "verbose", "warm_start", "distributed", "tol",
                        "n_iter_no_change", "max_fun"})  # fmt: skip
"""The parameters a resumed run may change; any other change is refused (``ResumeFrom``)."""
