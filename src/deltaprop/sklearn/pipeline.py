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
from deltaprop.sklearn.tabular_state import check_fits, check_target_scaling

__all__ = ["model_pipeline"]

_ACCEPTS = (
    "save takes a fitted Pipeline of two steps: a TablePreprocessor, then an MLPClassifier, "
    "an MLPRegressor, or a TransformedTargetRegressor of an MLPRegressor with a "
    "StandardScaler (or none) as its transformer, fitted on a one-column target or with "
    "one mean and one scale for all columns"
)


def model_pipeline(
    estimator: Any, preprocess: TablePreprocessor, target_scaling: tuple[float, float] | None
) -> Any:
    """The fitted pipeline of a fitted estimator, its preprocessing and target scaling.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Fitted on ``preprocess``'s features (and the standardized target).
    preprocess : TablePreprocessor
        Fitted.
    target_scaling : (mean, scale) or None
        The regression target's standardization ``y' = (y - mean) / scale``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``predict`` (and ``predict_proba``) of the raw table, in the target's units.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = estimator
    if target_scaling is not None:
        k = int(getattr(estimator, "n_outputs_", 1))
        mean, scale = target_scaling
        scaler = StandardScaler()
        scaler.mean_, scaler.scale_ = np.full(k, mean), np.full(k, scale)
        scaler.var_ = scaler.scale_**2
        scaler.n_features_in_ = k
        scaler.n_samples_seen_ = len(getattr(estimator, "loss_curve_", ())) or 1
        model = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
        model.regressor_, model.transformer_ = estimator, scaler
        model._training_dim = 1 if k == 1 else 2
    return Pipeline([("preprocess", preprocess), ("model", model)])


def _scaling_of(model: Any) -> tuple[Any, tuple[float, float] | None]:
    """The estimator and target scaling of a pipeline's last step; TypeError for others."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    if isinstance(model, BaseMLP):
        return model, None
    if not isinstance(model, TransformedTargetRegressor):
        raise TypeError(f"{_ACCEPTS}. Received: last step {type(model).__qualname__}")
    est = getattr(model, "regressor_", None)
    scaler = getattr(model, "transformer_", None)
    if not isinstance(est, MLPRegressor):
        raise TypeError(
            f"{_ACCEPTS}. Received: a TransformedTargetRegressor of {type(est).__qualname__}"
            + (" (not fitted)" if est is None else "")
        )
    if not isinstance(scaler, StandardScaler):
        raise TypeError(
            f"{_ACCEPTS}. Received: a TransformedTargetRegressor with transformer "
            f"{type(scaler).__qualname__}"
        )
    mean = np.zeros(1) if scaler.mean_ is None else np.asarray(scaler.mean_, dtype=np.float64)
    scale = np.ones(1) if scaler.scale_ is None else np.asarray(scaler.scale_, dtype=np.float64)
    if np.ptp(mean) != 0 or np.ptp(scale) != 0:
        raise TypeError(f"{_ACCEPTS}. Received: one scaling per target column")
    return est, (float(mean[0]), float(scale[0]))


def _split(pipeline: Any) -> tuple[Any, Extra]:
    """A pipeline's estimator and its extra section (:func:`deltaprop.save`)."""
    steps = list(getattr(pipeline, "steps", ()))
    if len(steps) != 2 or not isinstance(steps[0][1], TablePreprocessor):
        kinds = ", ".join(type(step).__qualname__ for _, step in steps)
        raise TypeError(f"{_ACCEPTS}. Received: a Pipeline of {kinds or 'no steps'}")
    pre = steps[0][1]
    if not hasattr(pre, "median_"):
        raise TypeError(f"{_ACCEPTS}. Received: an unfitted TablePreprocessor")
    est, scaling = _scaling_of(steps[1][1])
    config, arrays = pre.get_state()
    config["task"] = "classification" if hasattr(est, "classes_") else "regression"
    config["target_scaling"] = (
        None if scaling is None else {"mean": scaling[0], "scale": scaling[1]}
    )
    return est, (config, arrays)


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
    check_fits(model, len(pre.get_feature_names_out()), scaling, hasattr(model, "classes_"))
    return model_pipeline(model, pre, scaling)


def _register() -> None:
    from sklearn.pipeline import Pipeline

    register_model_wrapper(Pipeline, _split, _wrap)


_register()
