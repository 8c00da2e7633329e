"""Model files for the commands that read one: the estimator, its preprocessing, its inputs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltaprop.app.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from deltaprop.app.preprocessing import Preprocessor, TargetScaler

__all__ = [
    "Loaded",
    "check_finite_errors",
    "check_finite_outputs",
    "check_state",
    "load_estimator",
    "load_model",
    "model_inputs",
]


def load_model(path: Path) -> tuple[Any, Any]:
    """The model in ``path`` and its file's extra section (the command's preprocessing:
    ``(config, arrays)``), or ``None`` for a model saved from Python.

    Raises
    ------
    deltaprop.io.ModelFileError
        For a file that is not a model, or whose preprocessing is malformed (the message
        names the file and the field).
    """
    from deltaprop.io import load

    model, state = load(path, return_extra=True)
    if state is not None:
        check_state(path, model, state)
    return model, state


@dataclass
class Loaded:
    est: Any
    pre: Preprocessor | None
    scaler: TargetScaler | None
    config: dict[str, Any]


_TASKS = ("classification", "regression")


def _check_config(config: Any) -> None:
    """The command's fields of the extra section beyond the preprocessing's own."""
    if not isinstance(config, dict):
        raise ValueError(f"the preprocessing must be a JSON object; got {type(config).__name__}")
    target = config.get("target")
    if target is not None and not isinstance(target, str):
        raise ValueError(f"preprocessing field 'target' must be a column name; got {target!r}")
    task = config.get("task")
    if task is not None and task not in _TASKS:
        raise ValueError(
            f"preprocessing field 'task' must be 'classification' or 'regression'; got {task!r}"
        )
    run = config.get("run")
    if run is not None and not isinstance(run, dict):
        raise ValueError(f"preprocessing field 'run' must be a JSON object; got {run!r}")
    metrics = (run or {}).get("metrics") or {}
    if not isinstance(metrics, dict) or not all(
        isinstance(v, dict)
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v.values())
        for v in metrics.values()
    ):
        raise ValueError("preprocessing field 'run.metrics' must map parts to numbers")


def _check_task(config: dict[str, Any], model: Any, columns: list[str]) -> None:
    """The task and target of the extra section agree with the estimator and its inputs."""
    task, target = config.get("task"), config.get("target")
    own = "classification" if hasattr(model, "classes_") else "regression"
    if task is not None and task != own:
        raise ValueError(
            f"preprocessing field 'task' must be {own!r} for a {type(model).__name__}; got {task!r}"
        )
    if target is not None and target in columns:
        raise ValueError(
            f"preprocessing field 'target' must not be an input column; got {target!r}"
        )


def check_state(path: Path, model: Any, state: Any) -> tuple[Preprocessor, TargetScaler | None]:
    """The preprocessing and target scaler of a model file's extra section, checked.

    Raises
    ------
    deltaprop.io.ModelFileError
        For a malformed section: ``cannot load 'PATH': preprocessing field 'F' must be ...;
        got VALUE``.
    """
    from deltaprop.app.preprocessing import Preprocessor, TargetScaler
    from deltaprop.io import ModelFileError
    from deltaprop.sklearn.tabular_state import check_fits

    try:
        if not isinstance(state, tuple | list) or len(state) != 2:
            raise ValueError("the extra section must be (config, arrays)")
        config, arrays = state
        _check_config(config)
        pre = Preprocessor.from_state(config, arrays)
        scaler = TargetScaler.from_state(config.get("target_scaling"))
        _check_task(config, model, pre.columns)
        check_fits(model, len(pre.feature_names), scaler, config.get("task") == "classification")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"cannot load '{path}': {exc}") from None
    return pre, scaler


def load_estimator(path: Path) -> Loaded:
    from deltaprop.core import Network

    model, state = load_model(path)
    if isinstance(model, Network):
        raise UsageError(
            f"'{path}' holds a bare Network, not a model trained by 'deltaprop train' or an "
            "estimator; 'deltaprop inspect' and 'deltaprop export' read it"
        )
    if state is None:
        return Loaded(model, None, None, {})
    pre, scaler = check_state(path, model, state)
    return Loaded(model, pre, scaler, state[0])


def model_inputs(loaded: Loaded, frame: pd.DataFrame, source: Path) -> Any:
    """The network's inputs from a table: the model's preprocessing, or numeric columns."""
    import numpy as np

    est = loaded.est
    names = (
        loaded.pre.columns if loaded.pre is not None else getattr(est, "feature_names_in_", None)
    )
    missing = [] if names is None else [n for n in names if n not in frame.columns]
    if missing:
        from deltaprop.app.tables import did_you_mean, separator_hint

        cols = [str(c) for c in frame.columns]
        unused = [c for c in cols if c not in (names or [])]  # a model's column: no guess
        shown = ", ".join(repr(c) for c in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            f"'{source}' lacks the column{'s' if len(missing) > 1 else ''} {shown} that the "
            f"model was trained on{did_you_mean(missing[0], unused)}{separator_hint(cols)}"
        )
    if loaded.pre is not None:
        return loaded.pre.transform(frame, source)
    if names is not None:
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


def check_finite_outputs(values: Any, frame: pd.DataFrame, source: Path) -> None:
    """Refuse rows whose predictions overflowed (an input far beyond the training data).

    Parameters
    ----------
    values : array-like of shape (n_rows,) or (n_rows, n_outputs)
        The model's outputs (probabilities, or predictions in the target's units).
    frame : pandas.DataFrame
        The table the rows come from (its index: the file's row labels).

    Raises
    ------
    DataError
        ``row R of 'FILE': the model's output overflows (not a finite number); its largest
        input is column C ...``, for the first such row.
    """
    import numpy as np

    out = np.asarray(values, dtype=np.float64)
    out = out.reshape(len(out), -1)
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if bad.size:
        _refuse_row(
            frame, int(bad[0]), source, "the model's output overflows (not a finite number)"
        )


def check_finite_errors(predicted: Any, y_true: Any, frame: pd.DataFrame, source: Path) -> None:
    """Refuse rows whose prediction is so far from the target that the error metrics would
    overflow: a squared error above ``max_float / n_rows`` (then every sum of them is finite).

    Parameters
    ----------
    predicted : array-like of shape (n_rows,) or (n_rows, n_outputs)
        Finite predictions in the target's units (:func:`check_finite_outputs` passed them).
    y_true : array-like of shape (n_rows,) or (n_rows, n_outputs)
        The targets.
    frame : pandas.DataFrame
        The features the rows come from.

    Raises
    ------
    DataError
        ``row R of 'FILE': the model's prediction P is too far from the target T for a finite
        squared error; its largest input is column C = V; ...``, for the first such row.
    """
    import numpy as np

    pred = np.asarray(predicted, dtype=np.float64).reshape(len(frame), -1)
    y = np.asarray(y_true, dtype=np.float64).reshape(len(frame), -1)
    limit = math.sqrt(np.finfo(np.float64).max / max(1, pred.size))
    with np.errstate(over="ignore", invalid="ignore"):
        err = np.abs(pred - y)
    bad = np.flatnonzero(~(err <= limit).all(axis=1))
    if bad.size:
        i = int(bad[0])
        j = int(np.argmax(~(err[i] <= limit)))
        raise_what = (
            f"the model's prediction {float(pred[i, j])!r} is too far from the target "
            f"{float(y[i, j])!r} for the error metrics to be finite numbers"
        )
        _refuse_row(frame, i, source, raise_what)


def _refuse_row(frame: pd.DataFrame, i: int, source: Path, what: str) -> None:
    """Raise the one-line :class:`DataError` for row ``i`` (0-based), naming its largest input."""
    from deltaprop.app.preprocessing import file_row

    numbers = frame.select_dtypes("number")
    where = ""
    if numbers.shape[1]:
        row = numbers.iloc[i].abs()
        if row.notna().any():
            col = row.idxmax()
            where = f"; its largest input is column {col!r} = {float(numbers.iloc[i][col])!r}"
    raise DataError(
        f"row {file_row(frame.index, i)} of '{source}': {what}{where}; such values are far "
        "beyond the training data"
    )
