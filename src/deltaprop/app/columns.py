"""What a table's column holds: text or numbers, and its values as category strings."""

from __future__ import annotations

import pandas as pd

from deltaprop.sklearn.tabular import category_strings, is_text

__all__ = ["category_strings", "is_numeric", "is_text"]


def is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))
