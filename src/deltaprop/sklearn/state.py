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

import math
import operator
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from deltaprop.core import Network
from deltaprop.core.summary import Summary, summary
from deltaprop.io import checked_config, register_model_kind, tensor_specs
from deltaprop.sklearn.params import SKLEARN_OUT
from deltaprop.sklearn.training import TrainingParts
from deltaprop.train import History
from deltaprop.train.stopping import StopRecord

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

    def summary(self) -> Summary:
        """The fitted network's summary, as Keras's ``model.summary()``: a line naming the
        estimator and its input, then a row per layer with its output shape and parameter
        count, then the totals (:func:`deltaprop.core.summary.summary`).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before the first :meth:`fit` or :meth:`partial_fit`.
        """
        check_is_fitted(self, "network_")
        head = f"{type(self).__name__}: input (batch, {self.network_.layer_sizes[0]})"
        return Summary(f"{head}\n{summary(self.network_)}")

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able configuration and arrays for :func:`deltaprop.save` (no pickle).

        Holds the parameters (without callbacks), the network's architecture and flat
        parameters, batch-norm statistics, the fitted attributes, the classes, the history
        and the stop record (``stop_reason_``, ``stop_message_``, ``history_.stop``).
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
        stop = self.history_.stop
        if stop is not None:
            config["stop"] = {"record": stop.as_dict(), "message": self.stop_message_}
        arrays = {"parameters": np.asarray(self.network_.parameters)}
        for name, value in self.network_.buffers():
            arrays[f"buffer.{name}"] = np.asarray(value)
        return config, arrays

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _set_extra_state(self, extra: dict[str, Any]) -> None:
        pass

    @classmethod
    def _check_model_arrays(
        cls, config: Any, specs: dict[str, tuple[tuple[int, ...], str]]
    ) -> None:
        """The file's state tensors against the architecture it declares, before anything is
        read or built: ``parameters`` of the declared parameter count and one
        ``buffer.running_mean[l]`` / ``buffer.running_var[l]`` per batch-norm layer.

        Raises
        ------
        ValueError
            Naming the field that disagrees.
        """
        if not isinstance(config, dict) or not isinstance(config.get("network"), dict):
            raise ValueError("the estimator configuration's 'network' must be a JSON object")
        net_config = checked_config(config["network"])
        expected: dict[str, tuple[tuple[int, ...], str]] = {}
        n_params = 0
        code = "F32" if net_config["dtype"] == "float32" else "F64"
        layer = 0
        for name, (shape, _) in tensor_specs(net_config).items():
            if name.endswith((".weight", ".bias")):
                n_params += math.prod(shape)
            elif name.endswith(".running_mean"):
                layer += 1
                while not net_config["batch_norm"][layer - 1]:
                    layer += 1
                expected[f"buffer.running_mean[{layer}]"] = (shape, code)
                expected[f"buffer.running_var[{layer}]"] = (shape, code)
        expected["parameters"] = ((n_params,), code)
        if set(specs) != set(expected):
            raise ValueError(
                f"the tensors {sorted(specs)} do not match the architecture of 'network' "
                f"(layer_sizes={net_config['layer_sizes']!r}), which needs {sorted(expected)}"
            )
        for name, spec in expected.items():
            if specs[name] != spec:
                raise ValueError(
                    f"tensor {name!r} has shape {specs[name][0]} and dtype {specs[name][1]}; "
                    f"the architecture of 'network' (layer_sizes={net_config['layer_sizes']!r}) "
                    f"needs shape {spec[0]} and dtype {spec[1]}"
                )

    @classmethod
    def _from_model_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        """Rebuild a fitted estimator from :meth:`_get_model_state` output.

        The parameters, the network, the fitted attributes, the history and the subclass's
        part must agree: the network is the one the parameters build (hidden sizes,
        activations, output, loss, dropout, batch norm), and ``n_layers_``, ``n_outputs_``,
        ``out_activation_``, ``n_features_in_`` are the network's.

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
        for key in ("params", "network", "fitted", "history", "extra"):
            if not isinstance(config[key], dict):
                raise ValueError(
                    f"{key!r} must be a JSON object. Received: {type(config[key]).__name__}"
                )
        params = config["params"]
        valid = set(cls().get_params())
        unknown = sorted(set(params) - valid)
        if unknown:
            raise ValueError(f"unknown estimator parameters: {', '.join(unknown)}")
        est = cls(**params)
        est._validate_params()
        net = Network(**config["network"])
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
            if name.startswith("running_var") and arr.size and float(arr.min()) < 0:
                raise ValueError(f"buffer {name!r} holds a negative variance {float(arr.min())!r}")
            buffers[name] = arr
        net.set_buffers(buffers)
        est.network_ = net
        est._set_extra_state(config["extra"])
        _check_network_matches_params(est, net)
        fitted = config["fitted"]
        if not set(fitted) <= set(cls._STATE_ATTRS):
            unknown = sorted(set(fitted) - set(cls._STATE_ATTRS))
            raise ValueError(f"'fitted' has unknown attributes: {', '.join(unknown)}"[:300])
        _check_fitted(fitted, net)
        for key, value in fitted.items():
            setattr(est, key, value)
        if "feature_names_in_" in config:
            names = config["feature_names_in_"]
            if not (
                isinstance(names, list)
                and len(names) == net.layer_sizes[0]
                and all(isinstance(n, str) for n in names)
            ):
                raise ValueError(
                    "feature_names_in_ must be one string per input of the network "
                    f"({net.layer_sizes[0]})"
                )
            est.feature_names_in_ = np.asarray(names, dtype=object)
        _check_history(config["history"])
        est.history_ = History.from_dict(config["history"])
        est.gradient_norms_ = np.array(est.history_.grad_norms)
        est.history_.stop, est.stop_message_ = _stop_of(config.get("stop"))
        est.stop_reason_ = None if est.history_.stop is None else est.history_.stop.reason
        est._trainer = est._make_trainer(net, 1, incremental=False, warn=False)
        est._trainer.history = est.history_
        return est


def _stop_of(field: Any) -> tuple[StopRecord | None, str | None]:
    """The stop record and ``stop_message_`` of a file's ``stop`` field (absent in files
    from before it: ``(None, None)``)."""
    if field is None:
        return None, None
    if not isinstance(field, dict) or set(field) != {"record", "message"}:
        raise ValueError(
            'the estimator configuration\'s \'stop\' must be {"record": {...}, "message": '
            f"str}}. Received: {field!r}"[:300]
        )
    if not isinstance(field["message"], str):
        raise ValueError(f"'stop.message' must be a string. Received: {field['message']!r}"[:300])
    return StopRecord.from_dict(field["record"]), field["message"]


def _check_network_matches_params(est: Any, net: Network) -> None:
    """The network must be the one the parameters build (up to the input and output widths,
    which the data decide): compared through a network of width-1 layers, allocating nothing."""
    hidden = est._hidden_sizes()
    sizes = net.layer_sizes
    if sizes[1:-1] != hidden:
        raise ValueError(
            f"the network's hidden layers {sizes[1:-1]} are not hidden_layer_sizes={hidden}"
        )
    loss, out = est._loss_and_output(sizes[-1])
    tiny = Network(
        [1] * len(sizes),
        [*est._hidden_activations(len(hidden)), out],
        loss,
        dtype=net.dtype,
        dropout=est.dropout if hidden else 0.0,
        batch_norm=est.batch_norm if hidden else False,
    )
    want, got = tiny.get_config(), net.get_config()
    want["layer_sizes"] = list(sizes)
    # the initializer shaped only the first weights (files from before the estimators took
    # an ``init`` parameter recorded the Network's "auto"): not compared
    diff = [k for k in want if k != "init" and want[k] != got[k]]
    if diff:
        raise ValueError(
            f"the network does not match the parameters in {', '.join(diff)}: the file's "
            f"network has {[got[k] for k in diff]}, the parameters build {[want[k] for k in diff]}"
        )


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _is_number(value: Any) -> bool:
    """An int or float that a float64 holds (NaN and infinities included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, float) or abs(value) <= _FLOAT_MAX


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _check_fitted(fitted: dict[str, Any], net: Network) -> None:
    """Each fitted attribute of the right type, and those the network decides equal to it."""
    sizes = net.layer_sizes
    decided = {
        "n_layers_": len(sizes),
        "n_outputs_": sizes[-1],
        "n_features_in_": sizes[0],
        "out_activation_": SKLEARN_OUT.get(net.output_activation.name),
    }
    for key, want in decided.items():
        if fitted.get(key) != want or isinstance(fitted.get(key), bool):
            raise ValueError(
                f"fitted {key} is {fitted.get(key)!r} but the network's is {want!r}"[:300]
            )
    for key in ("n_iter_", "t_"):
        if key in fitted and not _is_count(fitted[key]):
            raise ValueError(
                f"fitted {key} must be an integer in [0, 2**63). Received: {fitted[key]!r}"[:300]
            )
    for key in ("loss_", "best_loss_", "best_validation_score_"):
        if fitted.get(key) is not None and not _is_number(fitted[key]):
            raise ValueError(
                f"fitted {key} must be a number or null. Received: {fitted[key]!r}"[:300]
            )
    for key in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
        value = fitted.get(key)
        if value is not None and not (
            isinstance(value, list) and all(_is_number(v) for v in value)
        ):
            raise ValueError(f"fitted {key} must be a list of numbers. Received: {value!r}"[:300])


def _check_history(history: dict[str, Any]) -> None:
    """The history's curves: lists of numbers (``grad_norms``: lists of lists)."""
    for key, curve in history.items():
        rows = curve if key == "grad_norms" and isinstance(curve, list) else [curve]
        if key not in _HISTORY_KEYS or not all(
            isinstance(row, list) and all(_is_number(v) for v in row) for row in rows
        ):
            raise ValueError(
                f"history {key!r} must be a list of numbers"
                f"{' lists' if key == 'grad_norms' else ''}. Received: {curve!r}"[:300]
            )


_HISTORY_KEYS = ("loss", "val_loss", "val_score", "learning_rate", "grad_norms")


def register_estimator(cls: type[ModelState]) -> type[ModelState]:
    """Register an estimator class with :mod:`deltaprop.io` under its own name."""
    register_model_kind(
        cls.__name__,
        cls,
        operator.methodcaller("_get_model_state"),
        cls._from_model_state,
        legacy_extra_key=_LEGACY_EXTRA_KEY,
        check_arrays=cls._check_model_arrays,
    )
    return cls
