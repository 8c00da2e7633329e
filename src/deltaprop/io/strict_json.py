"""Strict JSON for file headers: non-finite floats tagged as ``{"$float": ...}``, no
duplicate keys, no ``NaN`` constants, bounded nesting.

>>> import math
>>> to_json({"loss": [1.5, math.nan]}, "history")
'{"loss":[1.5,{"$float":"nan"}]}'
>>> parse_json('{"x": {"$float": "-inf"}}', "metadata")
{'x': -inf}
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from deltaprop.io.errors import ModelFileError

__all__ = ["MAX_DEPTH", "MAX_INT", "parse_json", "to_json"]

MAX_DEPTH = 64
"""Deepest nesting accepted: far deeper than anything written; keeps every later recursion safe."""

_TAGGED = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _plain(obj: Any, where: str) -> Any:
    """Plain JSON values; non-finite floats tagged, NumPy scalars unwrapped, tuples listed."""
    if isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
        obj = obj.item()
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"$float": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} must have string keys. Received: key {k!r}")
            out[k] = _plain(v, where)
        return out
    if isinstance(obj, list | tuple):
        return [_plain(v, where) for v in obj]
    raise TypeError(
        f"{where} must hold JSON values only (dict, list, str, int, float, bool, None). "
        f"Received: a value of type {type(obj).__name__}"
    )


def to_json(obj: Any, where: str) -> str:
    """Compact strict JSON text of ``obj``; ``where`` names it in a :class:`TypeError`."""
    return json.dumps(_plain(obj, where), allow_nan=False, separators=(",", ":"))


def _object(pairs: list[tuple[str, Any]]) -> Any:
    """Build a JSON object: reject duplicate keys, decode ``{"$float": "nan"}`` tags."""
    if len(pairs) == 1 and pairs[0][0] == "$float" and pairs[0][1] in _TAGGED:
        return _TAGGED[pairs[0][1]]
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


MAX_INT = 2**1024
"""Integers at or beyond this magnitude are refused: no float can hold them."""


def _int(text: str) -> int:
    value = int(text)
    if abs(value) >= MAX_INT:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard constant {name}")


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        obj, depth = stack.pop()
        children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
        if children and depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(text: str, what: str) -> Any:
    """Parse strict JSON text; any problem raises :class:`ModelFileError` naming ``what``."""
    try:
        value = json.loads(
            text, object_pairs_hook=_object, parse_constant=_reject_constant, parse_int=_int
        )
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{what} is not valid JSON: {exc}") from None
    if _too_deep(value):
        raise ModelFileError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    return value
