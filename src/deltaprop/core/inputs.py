"""The checks of a network's inputs: ``X``, ``Y`` and sample weights, cast and validated.

Also the dtype and per-layer settings of a network's constructor. Each failure is a
``ValueError`` that says what was expected and what was received;
:class:`~deltaprop.core.network.Network` calls these from its ``check_*`` methods with its
dtype, array module and layer sizes.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy.sparse import issparse

from deltaprop.core.activations import ACTIVATIONS, Activation, get_activation
from deltaprop.core.checks import check_bool, check_real
from deltaprop.core.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss

__all__ = [
    "as_generator", "check_X", "check_Y", "check_dtype", "check_hidden_options", "check_layer_sizes",
    "check_output_pair", "check_sample_weight", "per_layer", "resolve_activations",
]  # fmt: skip

Array = Any
_DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype: Any) -> np.dtype[Any]:
    """``dtype`` as a NumPy dtype, float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64. Received: dtype={dtype!r}")
    return dt


def as_generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """``seed`` (None, a non-negative int, a SeedSequence or a Generator) as a Generator.

    Raises
    ------
    TypeError, ValueError
        As :func:`numpy.random.default_rng` does, naming ``name`` and the value received.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool | np.bool_):
        raise TypeError(f"{name} must be None, a non-negative int or a Generator. "
                        f"Received: {name}={seed!r}")  # fmt: skip
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{name} must be None, a non-negative int or a Generator. "
            f"Received: {name}={seed!r} ({exc})"
        ) from None


def refuse_non_real(X: Any, name: str) -> None:
    """Raise ``ValueError`` if ``X`` holds complex numbers or strings (a cast to float
    would drop the imaginary part, or parse the text), naming ``name`` and the dtype."""
    dtypes = getattr(X, "dtypes", None)  # a pandas DataFrame: one per column
    dtype = getattr(X, "dtype", None)
    if dtype is None and dtypes is None and not issparse(X):
        try:
            dtype = np.asarray(X).dtype
        except (TypeError, ValueError):
            return  # the cast reports it
    kinds = [dtype] if dtype is not None else list(dtypes if dtypes is not None else [])
    for dt in kinds:
        if getattr(dt, "kind", None) in ("c", "U", "S"):
            what = "complex" if dt.kind == "c" else "text"
            raise ValueError(
                f"{name} must hold real numbers, not {what}. Received: {name} of dtype {dt}"
            )


def check_layer_sizes(layer_sizes: Any) -> list[int]:
    """``layer_sizes`` as a list of at least two positive ints ``[n_0, ..., n_L]``."""
    try:
        sizes = list(layer_sizes)
    except TypeError:
        sizes = []
    if len(sizes) < 2:
        raise ValueError(
            "layer_sizes must list at least an input and an output width, e.g. [4, 8, 1]. "
            f"Received: layer_sizes={layer_sizes!r}"
        )
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(
                "layer_sizes must be positive integers. "
                f"Received: layer_sizes={layer_sizes!r} (width {n!r})"
            )
    return [int(n) for n in sizes]


_PROBABILITY_LOSSES = (BinaryCrossEntropy, CategoricalCrossEntropy)
"""The losses that take the outputs as probabilities (``log a``, ``log(1 - a)``)."""


def resolve_activations(activations: Any, L: int, loss: Loss, backend: Any) -> list[Activation]:
    """The ``L`` activations of a network from its ``activations`` argument: one per layer,
    ``[hidden, output]`` (``L > 2``), or one for the hidden layers with the loss's natural
    output activation (:attr:`Loss.default_activation`).

    Raises
    ------
    ValueError
        A wrong number of activations, or a cross-entropy loss whose output activation does
        not give probabilities (:func:`check_output_pair`).
    """
    received = "the last of activations"
    if isinstance(activations, str | Activation | dict):
        names: list[Any] = [activations] * (L - 1) + [loss.default_activation]
    else:
        names = list(activations)
        if len(names) == 2 and L > 2:
            names = [names[0]] * (L - 1) + [names[1]]
            received = f"activations={activations!r} read as [hidden, output] for {L} layers"
            if L == 3:  # the estimators' list, one per hidden layer, lacks the output
                received += (
                    "; one per hidden layer needs the output too: "
                    f"[..., {loss.default_activation!r}]"
                )
        elif len(names) != L:
            raise ValueError(
                f"activations must be one name, one per layer ({L}), or [hidden, output]. "
                f"Received: activations={activations!r}"
            )
    resolved = [get_activation(a, backend) for a in names]
    check_output_pair(loss, resolved[-1], received)
    return resolved


def check_output_pair(
    loss: Loss, output: Activation, received: str = "the last of activations"
) -> None:  # fmt: skip
    """Raise ``ValueError`` if ``loss`` is a cross-entropy and the output activation
    ``output`` does not give probabilities (its class's ``probabilities``: the sigmoid and
    the softmax, each loss's fused one and, through the general chain rule, the other; any
    other (tanh, ReLU, identity, ...) makes "probabilities" outside ``[0, 1]`` and a cost
    without meaning); ``received`` says where ``output`` came from.

    >>> from deltaprop.core.activations import get_activation
    >>> from deltaprop.core.losses import get_loss
    >>> check_output_pair(get_loss("categorical_crossentropy"), get_activation("tanh"))
    Traceback (most recent call last):
    ...
    ValueError: loss 'categorical_crossentropy' takes the outputs as probabilities, so the output activation must give values in (0, 1): 'softmax' (its fused pair), 'sigmoid' or an activation of your own whose class sets probabilities = True. Received: output activation 'tanh' (the last of activations)
    """
    if not isinstance(loss, _PROBABILITY_LOSSES) or output.probabilities:
        return
    fused = loss.fused_activation
    others = [name for name, cls in ACTIVATIONS.items() if cls.probabilities and name != fused]
    listed = ", ".join(repr(a) for a in others)
    raise ValueError(
        f"loss {loss.name!r} takes the outputs as probabilities, so the output activation "
        f"must give values in (0, 1): {fused!r} (its fused pair), {listed} or an activation "
        "of your own whose class sets probabilities = True. "
        f"Received: output activation {output.name!r} ({received})"
    )


def per_layer(value: Any, n: int, name: str) -> list[Any]:
    """One value for each of ``n`` layers: ``value`` repeated, or its ``n`` items."""
    if isinstance(value, str | numbers.Number | bool) or value is None:
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(
            f"{name} must be one value or one per hidden layer ({n}). Received: {name}={value!r}"
        )
    return values


def check_hidden_options(dropout: Any, batch_norm: Any, n: int) -> tuple[list[float], list[bool]]:
    """The dropout rate (in ``[0, 1)``) and the batch-norm flag of each of ``n`` hidden
    layers, from one value or one per layer (a ``ValueError`` names the value received)."""
    what = "a rate in [0, 1), or one per hidden layer"
    try:
        rates = [check_real("dropout", r, low=0.0, high=1.0, high_open=True, what=what)
                 for r in per_layer(dropout, n, "dropout")]  # fmt: skip
    except ValueError:
        raise ValueError(f"dropout must be {what}. Received: dropout={dropout!r}") from None
    return rates, [check_bool("batch_norm", b) for b in per_layer(batch_norm, n, "batch_norm")]


def check_X(X: Any, n_features: int, dtype: np.dtype[Any], xp: Any, name: str = "X") -> Array:
    """Cast ``X`` to ``dtype`` and check it has shape ``(m, n_features)``, ``m > 0``, and
    finite values. A SciPy sparse ``X`` is kept sparse (CSR): the first layer multiplies
    it as it is.

    Raises
    ------
    ValueError
        Empty, not 2-D, wrong number of features, NaN or infinity.
    """
    refuse_non_real(X, name)
    if issparse(X):  # kept sparse (CSR): the first layer multiplies it as it is
        return _check_sparse_X(X, n_features, dtype, name)
    try:
        X = xp.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array. Received: {exc}") from None
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features). "
            f"Received: {name} with shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty. Received: {name} with shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the network expects "
            f"{n_features}. Received: {name} with shape {X.shape}"
        )
    if not (bool(xp.isfinite(X.min())) and bool(xp.isfinite(X.max()))):  # NaN propagates;
        # two reductions allocate nothing, where isfinite(X) would take m × n_0 bytes
        raise ValueError(f"{name} contains NaN or infinity.")
    return X


def _check_sparse_X(X: Any, n_features: int, dtype: np.dtype[Any], name: str) -> Any:
    X = X.tocsr().astype(dtype, copy=False)
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty. Received: {name} with shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the network expects "
            f"{n_features}. Received: {name} with shape {X.shape}"
        )
    if not np.isfinite(X.data).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return X


def check_Y(Y: Any, m: int, n_out: int, dtype: np.dtype[Any], xp: Any, loss: Loss) -> Array:
    """Cast ``Y`` to ``dtype`` with shape ``(m, n_out)`` (1-D allowed if ``n_out = 1``),
    finite and in the domain of ``loss`` (:meth:`Loss.check_target`).

    With categorical cross-entropy ``Y`` may also hold integer class labels, shape ``(m,)``
    (or ``(m, 1)``) with values in ``[0, n_out)``, as Keras's sparse categorical
    cross-entropy and PyTorch's ``CrossEntropyLoss`` take them: they become one-hot rows.
    """
    refuse_non_real(Y, "Y")
    sparse = isinstance(loss, CategoricalCrossEntropy) and n_out > 1
    if sparse:
        one_hot = _labels_as_one_hot(Y, m, n_out, dtype, xp)
        if one_hot is not None:
            return one_hot
    try:
        Y = xp.asarray(Y, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Y must be a numeric array. Received: {exc}") from None
    if Y.ndim == 1 and n_out == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape != (m, n_out):
        labels = (
            f", or integer class labels of shape ({m},) with values in [0, {n_out}) for "
            "categorical cross-entropy" if sparse else ""
        )  # fmt: skip
        raise ValueError(
            f"Y must have shape ({m}, {n_out}) to match X and the output layer{labels}. "
            f"Received: Y with shape {Y.shape}"
        )
    if not bool(xp.isfinite(Y).all()):
        raise ValueError("Y contains NaN or infinity.")
    loss.check_target(Y)
    return Y


def _labels_as_one_hot(Y: Any, m: int, n_out: int, dtype: np.dtype[Any], xp: Any) -> Array | None:
    """Integer class labels (shape ``(m,)`` or ``(m, 1)``, an integer dtype, or floats that
    are whole numbers) as one-hot rows of shape ``(m, n_out)``; ``None`` for anything else."""
    if issparse(Y):
        return None
    try:
        labels = xp.asarray(Y)
    except (TypeError, ValueError):
        return None
    if labels.shape == (m, 1):
        labels = labels.reshape(-1)
    if labels.shape != (m,) or labels.dtype.kind not in "iuf":
        return None
    if labels.dtype.kind == "f":
        whole = xp.isfinite(labels) & (labels == xp.round(labels))
        if not bool(whole.all()):
            i = int(xp.argmin(whole))
            raise ValueError(
                "Y of shape (n_samples,) with categorical cross-entropy holds class labels, "
                f"which must be whole numbers in [0, {n_out}). "
                f"Received: Y[{i}]={labels[i].item()!r}"
            )
    bad = (labels < 0) | (labels >= n_out)
    if bool(bad.any()):
        i = int(xp.argmax(bad))
        raise ValueError(
            f"Y holds class labels for an output layer of {n_out} units, so each must be in "
            f"[0, {n_out}). Received: Y[{i}]={labels[i].item()!r}"
        )
    one_hot = xp.zeros((m, n_out), dtype=dtype)
    one_hot[xp.arange(m), labels.astype(np.int64)] = 1
    return one_hot


def check_sample_weight(sample_weight: Any, m: int, dtype: np.dtype[Any], xp: Any) -> Array | None:
    """``None``, or ``sample_weight`` as a finite, non-negative vector of ``dtype`` and
    length ``m`` (a scalar is broadcast) with a positive sum."""
    if sample_weight is None:
        return None
    w = xp.asarray(sample_weight, dtype=dtype)
    if w.ndim == 0:
        w = xp.full(m, w, dtype=dtype)
    if w.shape != (m,):
        raise ValueError(
            f"sample_weight must have shape ({m},). Received: sample_weight with shape {w.shape}"
        )
    bad = ~xp.isfinite(w) | (w < 0)
    if bool(bad.any()):
        i = int(xp.argmax(bad))  # the first offending entry
        raise ValueError(
            "sample_weight must be finite and non-negative. "
            f"Received: sample_weight[{i}]={float(w[i])!r}"
        )
    if float(w.sum()) <= 0:
        raise ValueError(
            "sample_weight must not be all zero. Received: sample_weight with sum "
            f"{float(w.sum())!r} over {m} entries"
        )
    return w
