"""Model files as scikit-learn pipelines: the raw table in, answers in the target's units.

A file written by ``deltaprop train`` holds an estimator fitted on preprocessed features and,
for regression, a standardized target; its extra section holds the preprocessing
(:class:`~deltaprop.sklearn.tabular.TablePreprocessor`'s state) and the target scaling.
:func:`deltaprop.load` returns it as::

    Pipeline([("preprocess", TablePreprocessor), ("model", MLPClassifier)])
    Pipeline([("preprocess", TablePreprocessor),
              ("model", TransformedTargetRegressor(MLPRegressor, StandardScaler))])

(a regressor without target scaling is the estimator itself), and :func:`deltaprop.save`
stores such a pipeline, fitted, in the same form: the estimator's state, and the
preprocessing and target scaling as the extra section, JSON and float64 arrays, no pickle.

>>> import os, tempfile
>>> import numpy as np, pandas as pd
>>> from sklearn.compose import TransformedTargetRegressor
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from deltaprop import MLPRegressor, load, save
>>> df = pd.DataFrame({"x": np.arange(40.0), "c": ["a", "b"] * 20})
>>> y = 100 + 3 * df["x"].to_numpy()
>>> net = MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=300,
...                    random_state=0)
>>> reg = TransformedTargetRegressor(net, transformer=StandardScaler())
>>> pipe = make_pipeline(TablePreprocessor(["x"], ["c"]), reg).fit(df, y)
>>> path = save(pipe, os.path.join(tempfile.mkdtemp(), "pipe.safetensors"))
>>> bool(np.array_equal(load(path).predict(df), pipe.predict(df)))
True
>>> bool(abs(load(path).predict(df)[-1] - y[-1]) < 10)  # in y's units (y = 217 there)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.io import Extra, register_model_wrapper
from deltaprop.sklearn.base import BaseMLP
from deltaprop.sklearn.regressor import MLPRegressor
from deltaprop.sklearn.tabular import TablePreprocessor
from deltaprop.sklearn.tabular_state import check_fits, check_target_scaling, short

__all__ = ["check_target_transformer", "model_pipeline", "target_of"]

_ACCEPTS = (
    "a model pipeline (deltaprop.save, export_onnx) is a fitted Pipeline of two steps: a "
    "TablePreprocessor, then an MLPClassifier, an MLPRegressor, or a "
    "TransformedTargetRegressor of an MLPRegressor with a StandardScaler (any with_mean, "
    "with_std) or none (transformer=None) as its transformer, fitted on a one-column target "
    "or with one mean and one scale for all columns"
)

IDENTITY = {"kind": "identity"}
"""The ``target_transformer`` field of a ``TransformedTargetRegressor(transformer=None)``."""


def _scaler_field(with_mean: bool, with_std: bool) -> dict[str, Any]:
    return {"kind": "StandardScaler", "with_mean": with_mean, "with_std": with_std}


def model_pipeline(
    estimator: Any,
    preprocess: TablePreprocessor,
    target_scaling: tuple[float, float] | None,
    target_transformer: dict[str, Any] | None = None,
) -> Any:
    """The fitted pipeline of a fitted estimator, its preprocessing and target scaling.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Fitted on ``preprocess``'s features (and the standardized target).
    preprocess : TablePreprocessor
        Fitted.
    target_scaling : (mean, scale) or None
        The regression target's standardization ``y' = (y - mean) / scale``, as applied
        (``mean`` 0 for ``with_mean=False``, ``scale`` 1 for ``with_std=False``).
    target_transformer : dict, optional
        The transformer to rebuild (a model file's ``target_transformer`` field, checked):
        ``{"kind": "StandardScaler", "with_mean": bool, "with_std": bool}`` or
        ``{"kind": "identity"}`` (``transformer=None``). By default a ``StandardScaler()``
        where ``target_scaling`` is given, else the estimator alone.

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``predict`` (and ``predict_proba``) of the raw table, in the target's units.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    model = estimator
    k = int(getattr(estimator, "n_outputs_", 1))
    if target_transformer == IDENTITY:
        identity = FunctionTransformer(validate=True, check_inverse=True)
        identity.set_output(transform="default").fit(np.zeros((1, k)))
        model = TransformedTargetRegressor(regressor=estimator)
        model.regressor_, model.transformer_ = estimator, identity
        model._training_dim = 1 if k == 1 else 2
    elif target_scaling is not None:
        flags = target_transformer or _scaler_field(True, True)
        with_mean, with_std = bool(flags["with_mean"]), bool(flags["with_std"])
        mean, scale = target_scaling
        scaler = StandardScaler(with_mean=with_mean, with_std=with_std)
        # As scikit-learn leaves a fitted scaler: mean_ and var_ unless both flags are off.
        scaler.mean_ = np.full(k, mean) if with_mean or with_std else None
        scaler.scale_ = np.full(k, scale) if with_std else None
        scaler.var_ = scaler.scale_**2 if with_std else None
        scaler.n_features_in_ = k
        scaler.n_samples_seen_ = len(getattr(estimator, "loss_curve_", ())) or 1
        model = TransformedTargetRegressor(
            regressor=estimator, transformer=StandardScaler(with_mean=with_mean, with_std=with_std)
        )
        model.regressor_, model.transformer_ = estimator, scaler
        model._training_dim = 1 if k == 1 else 2
    return Pipeline([("preprocess", preprocess), ("model", model)])


def target_of(model: Any) -> tuple[Any, tuple[float, float] | None, dict[str, Any] | None]:
    """The estimator, target scaling ``(mean, scale)`` as applied, and ``target_transformer``
    field of a pipeline's last step (the one check of ``save`` and ``export_onnx``).

    Raises
    ------
    TypeError
        For a last step of another kind (or another transformer), naming what it is.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if isinstance(model, BaseMLP):
        return model, None, None
    if not isinstance(model, TransformedTargetRegressor):
        raise TypeError(f"{_ACCEPTS}. Received: last step {type(model).__qualname__}")
    est = getattr(model, "regressor_", None)
    scaler: Any = getattr(model, "transformer_", None)
    if not isinstance(est, MLPRegressor):
        raise TypeError(
            f"{_ACCEPTS}. Received: a TransformedTargetRegressor of {type(est).__qualname__}"
            + (" (not fitted)" if est is None else "")
        )
    if type(scaler) is FunctionTransformer and scaler.func is None and scaler.inverse_func is None:
        return est, None, dict(IDENTITY)
    if type(scaler) is not StandardScaler:
        received = f"transformer {type(scaler).__qualname__}" + (
            f" (made of func={model.func!r}, inverse_func={model.inverse_func!r})"
            if model.transformer is None
            else ""
        )
        raise TypeError(f"{_ACCEPTS}. Received: a TransformedTargetRegressor with {received}")
    with_mean, with_std = bool(scaler.with_mean), bool(scaler.with_std)
    # scikit-learn keeps mean_ when with_mean=False but never subtracts it.
    mean = np.asarray(scaler.mean_, dtype=np.float64) if with_mean else np.zeros(1)
    scale = np.asarray(scaler.scale_, dtype=np.float64) if with_std else np.ones(1)
    if np.ptp(mean) != 0 or np.ptp(scale) != 0:
        raise TypeError(f"{_ACCEPTS}. Received: one scaling per target column")
    return est, (float(mean[0]), float(scale[0])), _scaler_field(with_mean, with_std)


def _split(pipeline: Any) -> tuple[Any, Extra]:
    """A pipeline's estimator and its extra section (:func:`deltaprop.save`, and
    :func:`deltaprop.export_onnx` through :func:`deltaprop.io.model_wrapper_of`)."""
    steps = list(getattr(pipeline, "steps", ()))
    if len(steps) != 2 or not isinstance(steps[0][1], TablePreprocessor):
        kinds = ", ".join(type(step).__qualname__ for _, step in steps)
        raise TypeError(f"{_ACCEPTS}. Received: a Pipeline of {kinds or 'no steps'}")
    pre = steps[0][1]
    if not hasattr(pre, "median_"):
        raise TypeError(f"{_ACCEPTS}. Received: an unfitted TablePreprocessor")
    est, scaling, transformer = target_of(steps[1][1])
    config, arrays = pre.get_state()
    config["task"] = "classification" if hasattr(est, "classes_") else "regression"
    if getattr(pre, "target_", None) is not None:
        config["target"] = pre.target_
    config["target_scaling"] = (
        None if scaling is None else {"mean": scaling[0], "scale": scaling[1]}
    )
    if transformer is not None:
        config["target_transformer"] = transformer
    return est, (config, arrays)


def check_target_transformer(field: Any, scaling: Any) -> dict[str, Any] | None:
    """A model file's ``target_transformer`` field, checked (absent: ``None``).

    Raises
    ------
    ValueError
        Unless it is ``{"kind": "identity"}`` with a null ``target_scaling``, or
        ``{"kind": "StandardScaler", "with_mean": bool, "with_std": bool}`` with one.
    """
    if field is None:
        return None
    if field == IDENTITY and scaling is None:
        return dict(IDENTITY)
    keys = {"kind", "with_mean", "with_std"}
    if (
        isinstance(field, dict)
        and set(field) == keys
        and field["kind"] == "StandardScaler"
        and all(isinstance(field[k], bool) for k in ("with_mean", "with_std"))
        and scaling is not None
    ):
        return dict(field)
    raise ValueError(
        'preprocessing field \'target_transformer\' must be {"kind": "identity"} (with a '
        'null target_scaling) or {"kind": "StandardScaler", "with_mean": bool, '
        f'"with_std": bool}} (with a target_scaling); got {short(field)}'
    )


def _wrap(model: Any, extra: Extra) -> Any:
    """The pipeline of a model file's estimator and extra section, or None for a section
    that is not a preprocessing (:func:`deltaprop.load`)."""
    config, arrays = extra
    if not isinstance(model, BaseMLP) or not (
        isinstance(config, dict) and "format" in config and "numeric" in config
    ):
        return None
    pre = TablePreprocessor.from_state(config, arrays)
    scaling = check_target_scaling(config.get("target_scaling"))
    transformer = check_target_transformer(config.get("target_transformer"), scaling)
    check_fits(model, len(pre.get_feature_names_out()), scaling, hasattr(model, "classes_"))
    if transformer is not None and hasattr(model, "classes_"):
        raise ValueError("preprocessing field 'target_transformer' must be absent for a classifier")
    return model_pipeline(model, pre, scaling, transformer)


def _register() -> None:
    from sklearn.pipeline import Pipeline

    register_model_wrapper(Pipeline, _split, _wrap)


_register()
