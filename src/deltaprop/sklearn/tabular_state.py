"""The check of a :class:`~deltaprop.sklearn.tabular.TablePreprocessor` state read from a file.

The messages name the field as the ``deltaprop`` command's model files hold it (the extra
section): ``preprocessing field 'F' must be ...; got VALUE``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MISSING_CATEGORY",
    "PREPROCESSING_FORMAT",
    "check_fits",
    "check_state",
    "check_target_scaling",
    "short",
    "state_of",
]

MISSING_CATEGORY = "(missing)"
"""The category that stands for a missing value in a categorical column."""

PREPROCESSING_FORMAT = 1
"""Version of the configuration written by
:meth:`~deltaprop.sklearn.tabular.TablePreprocessor.get_state`."""


def state_of(
    numeric: Sequence[str], categorical: Sequence[str], categories: Sequence[Sequence[str]],
    median: Any, mean: Any, scale: Any,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:  # fmt: skip
    """The JSON configuration and float64 arrays of a fitted preprocessing (no pickle): what
    :func:`check_state` reads back. ``median``, ``mean``, ``scale`` have one entry per
    numeric column; ``categories`` one list per categorical column."""
    config = {
        "format": PREPROCESSING_FORMAT,
        "numeric": list(numeric),
        "categorical": list(categorical),
        "categories": [list(c) for c in categories],
        "missing_category": MISSING_CATEGORY,
    }
    arrays = {"median": median, "mean": mean, "scale": scale}
    return config, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}


def short(value: Any) -> str:
    """``repr`` of a value from a file, cut to 60 characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(config: dict[str, Any], name: str) -> list[str]:
    value = config.get(name)
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ValueError(
            f"preprocessing field {name!r} must be a list of column names; got {short(value)}"
        )
    return list(value)


def check_state(
    config: Any, arrays: Any
) -> tuple[list[str], list[str], list[list[str]], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(numeric, categorical, categories, (median, mean, scale))`` of a checked state.

    Raises
    ------
    ValueError
        For an inconsistent state: a wrong format, names that are not lists of strings (or a
        column named twice), one
        list of categories per categorical column, arrays of one finite number per numeric
        column, scales > 0.
    """
    if not isinstance(config, dict):
        raise ValueError(f"the preprocessing must be a JSON object; got {type(config).__name__}")
    if config.get("format") != PREPROCESSING_FORMAT:
        raise ValueError(
            f"preprocessing field 'format' must be {PREPROCESSING_FORMAT}; "
            f"got {config.get('format')!r}"
        )
    numeric, categorical = _names(config, "numeric"), _names(config, "categorical")
    twice = next((n for n, k in Counter(numeric + categorical).items() if k > 1), None)
    if twice is not None:
        raise ValueError(
            "preprocessing field 'numeric' must name each column once (with 'categorical'); "
            f"got {short(twice)} twice"
        )
    categories = config.get("categories")
    if (
        not isinstance(categories, list)
        or len(categories) != len(categorical)
        or not all(isinstance(c, list) and all(isinstance(v, str) for v in c) for c in categories)
    ):
        raise ValueError(
            "preprocessing field 'categories' must hold one list of category names per "
            f"categorical column ({len(categorical)}); got {short(categories)}"
        )
    if config.get("missing_category") != MISSING_CATEGORY:
        raise ValueError(
            f"preprocessing field 'missing_category' must be {MISSING_CATEGORY!r}; "
            f"got {short(config.get('missing_category'))}"
        )
    if not isinstance(arrays, dict):
        raise ValueError(f"the preprocessing arrays must be a mapping; got {short(arrays)}")
    state = {}
    for key in ("median", "mean", "scale"):
        arr = arrays.get(key)
        shape = getattr(arr, "shape", None)
        if shape != (len(numeric),) or getattr(arr, "dtype", np.dtype(object)).kind not in "fiu":
            raise ValueError(
                f"preprocessing array 'extra/{key}' must hold {len(numeric)} numbers (one "
                f"per numeric column); got {'none' if arr is None else f'shape {shape}'}"
            )
        state[key] = np.asarray(arr, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(state[key]))
        if bad.size:
            raise ValueError(
                f"preprocessing array 'extra/{key}' of column {numeric[bad[0]]!r} must be "
                f"finite; got {state[key][bad[0]]!r}"
            )
    bad = np.flatnonzero(state["scale"] <= 0)
    if bad.size:
        raise ValueError(
            f"preprocessing array 'extra/scale' of column {numeric[bad[0]]!r} must be > 0; "
            f"got {float(state['scale'][bad[0]])!r}"
        )
    return (
        numeric,
        categorical,
        [list(c) for c in categories],
        (state["median"], state["mean"], state["scale"]),
    )


def _finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite JSON number (not a boolean), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


def check_target_scaling(state: Any) -> tuple[float, float] | None:
    """``(mean, scale)`` of a model file's ``target_scaling`` field (``None``: no scaling).

    Raises
    ------
    ValueError
        Unless ``state`` is ``None`` or ``{"mean": m, "scale": s}`` with finite numbers
        ``m`` and ``s > 0`` (booleans and strings are not numbers); the message names the
        field and the value.
    """
    if state is None:
        return None
    if not isinstance(state, dict) or set(state) != {"mean", "scale"}:
        raise ValueError(
            "preprocessing field 'target_scaling' must be null or {\"mean\": number, "
            f'"scale": number}}; got {short(state)}'
        )
    values = []
    for key, ok, what in (
        ("mean", lambda v: True, "a finite number"),
        ("scale", lambda v: v > 0, "a finite number > 0"),
    ):
        v = state[key]
        number = _finite_number(v)
        if number is None or not ok(number):
            raise ValueError(
                f"preprocessing field 'target_scaling.{key}' must be {what}; got {short(v)}"
            )
        values.append(number)
    return values[0], values[1]


def check_fits(model: Any, n_features: int, scaling: Any, classifier: bool) -> None:
    """Raise ``ValueError`` where a preprocessing of ``n_features`` outputs, with target
    ``scaling`` (``None`` for none), does not fit the estimator ``model`` of a model file:
    another input width than the network's, or a target scaling for a ``classifier``."""
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and n_features != n_in:
        raise ValueError(
            f"the preprocessing makes {n_features} features but the network takes {n_in}"
        )
    if scaling is not None and classifier:
        raise ValueError("preprocessing field 'target_scaling' must be null for a classifier")
