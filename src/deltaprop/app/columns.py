"""What a table's column holds: text or numbers, and its values as category strings."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["category_strings", "is_numeric", "is_text"]


def is_text(s: pd.Series) -> bool:
    return bool(pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s))


def is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def category_strings(s: pd.Series) -> np.ndarray:
    """A column's values as stripped strings (integral floats without ``.0``), NaN where
    missing."""
    present = s.notna().to_numpy()
    out = np.full(len(s), np.nan, dtype=object)
    if not present.any():
        return out
    if is_text(s) and all(isinstance(v, str) for v in s[present].head(1000)):
        try:
            out[present] = s[present].astype(str).str.strip().to_numpy(dtype=object)
            return out
        except (TypeError, ValueError):  # pragma: no cover - mixed objects: the loop below
            pass
    values = s.to_numpy(dtype=object)
    for i in np.flatnonzero(present):
        v = values[i]
        if isinstance(v, bool | np.bool_):
            out[i] = str(bool(v))
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v).strip()
    return out
