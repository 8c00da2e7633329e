"""Model files for the commands that read one: the estimator, its preprocessing, its inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltaprop.app.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from deltaprop.app.preprocessing import Preprocessor, TargetScaler

__all__ = ["Loaded", "load_estimator", "load_model", "model_inputs"]


def load_model(path: Path) -> tuple[Any, Any]:
    """The model in ``path`` and its file's extra section (the command's preprocessing:
    ``(config, arrays)``), or ``None`` for a model saved from Python."""
    from deltaprop.io import load

    return load(path, return_extra=True)


@dataclass
class Loaded:
    est: Any
    pre: Preprocessor | None
    scaler: TargetScaler | None
    config: dict[str, Any]


def load_estimator(path: Path) -> Loaded:
    from deltaprop.app.preprocessing import Preprocessor, TargetScaler
    from deltaprop.core import Network
    from deltaprop.io import ModelFileError

    model, state = load_model(path)
    if isinstance(model, Network):
        raise UsageError(
            f"'{path}' holds a bare Network, not a model trained by 'deltaprop train' or an "
            "estimator; use it from Python"
        )
    if state is None:
        return Loaded(model, None, None, {})
    config, arrays = state
    try:
        pre = Preprocessor.from_state(config, arrays)
        scaling = config.get("target_scaling")
        scaler = (
            None
            if scaling is None
            else TargetScaler(float(scaling["mean"]), float(scaling["scale"]))
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"cannot load '{path}': invalid preprocessing: {exc}") from None
    if len(pre.feature_names) != model.n_features_in_:
        raise ModelFileError(
            f"cannot load '{path}': the preprocessing makes {len(pre.feature_names)} features "
            f"but the network takes {model.n_features_in_}"
        )
    return Loaded(model, pre, scaler, config)


def model_inputs(loaded: Loaded, frame: pd.DataFrame, source: Path) -> Any:
    """The network's inputs from a table: the model's preprocessing, or numeric columns."""
    import numpy as np

    if loaded.pre is not None:
        return loaded.pre.transform(frame)
    est = loaded.est
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataError(f"'{source}' lacks the column {missing[0]!r} the model needs")
        frame = frame[list(names)]
    if frame.shape[1] != est.n_features_in_:
        raise DataError(
            f"the model takes {est.n_features_in_} numeric columns and has no preprocessing; "
            f"'{source}' has {frame.shape[1]}"
        )
    try:
        X = frame.astype(np.float64)
        return X if names is not None else X.to_numpy()
    except (ValueError, TypeError):
        raise DataError(
            f"the model has no preprocessing and takes numbers only, but '{source}' holds text"
        ) from None
