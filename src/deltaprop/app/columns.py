"""What a table's column holds: text or numbers, and its values as category strings."""

from __future__ import annotations

from deltaprop.sklearn.tabular import category_strings, is_numeric, is_text

__all__ = ["category_strings", "is_numeric", "is_text"]
