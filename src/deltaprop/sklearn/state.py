"""The estimator's state in model files (no pickle), and its registration with :mod:`deltaprop.io`.

:class:`ModelState` is a base of :class:`~deltaprop.sklearn.base.BaseMLP`: its
``_get_model_state`` and ``_from_model_state`` are what :func:`deltaprop.io.save` and
:func:`deltaprop.io.load` call for the estimators, once :func:`register_estimator` has
registered each class (the classifier's and the regressor's modules do it on import).

The state is the parameters (without callbacks), the network's architecture and flat
parameters, batch-norm statistics, the fitted attributes, the history, and the subclass's
own part (``_extra_state``: the classes, the target's shape). Whatever else the writer of a
file keeps with the model (the command line's preprocessing) goes to the file's extra
section, which the estimator never sees; files of format 0.1 kept it in the state under
``"preprocessing"``, which :mod:`deltaprop.io.models` reads as the extra section.
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from deltaprop.core import Network
from deltaprop.io import register_model_kind
from deltaprop.sklearn.training import TrainingParts
from deltaprop.train import History

__all__ = ["ModelState", "register_estimator"]

_LEGACY_EXTRA_KEY = "preprocessing"
"""Where files of format 0.1 kept the extra section inside an estimator's state."""


class ModelState(TrainingParts):
    """The estimator's state as JSON and arrays, and the estimator rebuilt from it."""

    _STATE_ATTRS: ClassVar[tuple[str, ...]] = (
        "n_iter_", "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
        "best_validation_score_", "validation_loss_curve_", "n_outputs_", "n_layers_",
        "out_activation_", "n_features_in_",
    )  # fmt: skip

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able configuration and arrays for :func:`deltaprop.save` (no pickle).

        Holds the parameters (without callbacks), the network's architecture and flat
        parameters, batch-norm statistics, the fitted attributes, the classes and the history.
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
        extra_arrays = {k for k in arrays if k != "parameters"}
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
        est.gradient_norms_ = np.array(est.history_.grad_norms)
        est._trainer = est._make_trainer(net, 1, incremental=False, warn=False)
        est._trainer.history = est.history_
        return est


def register_estimator(cls: type[ModelState]) -> type[ModelState]:
    """Register an estimator class with :mod:`deltaprop.io` under its own name."""
    register_model_kind(
        cls.__name__,
        cls,
        operator.methodcaller("_get_model_state"),
        cls._from_model_state,
        legacy_extra_key=_LEGACY_EXTRA_KEY,
    )
    return cls
