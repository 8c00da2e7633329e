"""ONNX nodes of a table's preprocessing, in front of the network (as skl2onnx does for a
pipeline).

A pipeline of a :class:`~deltaprop.sklearn.tabular.TablePreprocessor` and an estimator (what
:func:`deltaprop.load` returns for a model trained by ``deltaprop train``) exports with one
input per column, of shape ``(batch, 1)``, named as the column: numbers as the graph's float
type (NaN where missing), categories as strings (``""`` or ``"(missing)"`` where missing). The
nodes:

* numbers: ``Concat``, ``Where(IsNaN(x), median, x)``, ``Sub(mean)``, ``Div(scale)``;
* each categorical column: one ``RegexFullMatch`` per known category ``c``, true for
  ``c`` with any whitespace around it (the whitespace of Python's ``str.strip``), so text is
  compared stripped as ``predict`` compares it; an integral category ``2`` also matches
  ``2.0`` where no category of the column has a ``.`` (:func:`category_pattern`); an unknown
  category is all zeros, and ``""``
  is the ``"(missing)"`` category (zeros when the column had no missing value); then
  ``Concat`` and ``Cast`` to the float type. ``RegexFullMatch`` is in opset 20 on.
* the regressor's target scaling after the network: ``Add(Mul(y, scale), mean)``.

The state is what :func:`deltaprop.save` writes of the pipeline (the split of its registered
wrapper, :func:`deltaprop.io.model_wrapper_of`), so this package imports no scikit-learn and
accepts exactly the pipelines that ``save`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from deltaprop.io import model_wrapper_of

__all__ = [
    "STRING_OPSET",
    "OpsetError",
    "TablePart",
    "category_pattern",
    "preprocessing_nodes",
    "table_part",
    "target_nodes",
]


class OpsetError(ValueError):
    """An ONNX opset that the export cannot write: out of range, or too old for the model."""


STRING_OPSET = 20
"""The first opset with ``RegexFullMatch`` (a table's categories need it)."""


@cache
def _space() -> str:
    """The characters ``str.strip()`` removes, as an RE2 class."""
    return "[" + "".join(f"\\x{{{i:x}}}" for i in range(0x110000) if chr(i).isspace()) + "]"


def category_pattern(category: str, missing: bool, floats: bool = False) -> str:
    """The RE2 pattern that text matches in full when, stripped, it is ``category``.

    Every character but ASCII letters and digits is written ``\\x{...}``, so none is special.
    ``missing``: the text ``""`` matches too (the graph's missing value). The category ``""``
    (whitespace in the table) matches non-empty whitespace. ``floats``: an integral category
    (``2``, ``-3``) matches its float spellings too (``2.0``, ``2.``, ``2.000``), as
    ``predict`` reads the number 2.0 (a column of integer codes with a missing value, which
    pandas reads as floats, ``.astype(str)`` giving ``"2.0"``).
    """
    if not category:
        return f"{_space()}+"
    body = "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in category)
    if floats and _INTEGRAL.fullmatch(category):
        body += "(\\.0*)?"
    return f"{_space()}*{body}{_space()}*" + ("|" if missing else "")


_INTEGRAL = re.compile("-?[0-9]+")


@dataclass
class TablePart:
    """What a pipeline adds around the network."""

    estimator: Any
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    scaling: tuple[float, float] | None

    @property
    def columns(self) -> list[str]:
        return [*self.config["numeric"], *self.config["categorical"]]


def table_part(model: Any) -> TablePart | None:
    """The estimator, preprocessing state and target scaling of a pipeline; None for others.

    The pipeline is checked and split as :func:`deltaprop.save` does (its registered
    wrapper, :func:`deltaprop.io.model_wrapper_of`): the same models are accepted, with the
    same message, and the target scaling is the one applied (a ``StandardScaler`` with
    ``with_mean=False`` adds no mean back).

    Raises
    ------
    TypeError
        For a pipeline that is not a preprocessing and an estimator.
    """
    steps = getattr(model, "steps", None)
    if steps is None:
        return None
    wrapper = model_wrapper_of(model)
    if wrapper is None:
        kinds = ", ".join(type(step).__qualname__ for _, step in steps)
        raise TypeError(
            "export_onnx takes a Pipeline of a TablePreprocessor and an estimator (as "
            f"deltaprop.load returns). Received: a {type(model).__qualname__} of {kinds}"
        )
    estimator, (config, arrays) = wrapper.split(model)
    target = config.get("target_scaling")
    scaling = None if target is None else (float(target["mean"]), float(target["scale"]))
    return TablePart(estimator, config, arrays, scaling)


def preprocessing_nodes(g: Any, part: TablePart) -> tuple[str, list[Any]]:
    """Add the preprocessing to the graph ``g``; return the features' name and the inputs.

    Parameters
    ----------
    g : deltaprop.export.onnx._Graph
    part : TablePart

    Returns
    -------
    (str, list of onnx.ValueInfoProto)
        The ``(batch, n_features)`` tensor the network reads, and the graph's inputs.
    """
    from onnx import TensorProto, helper

    numeric, categorical = part.config["numeric"], part.config["categorical"]
    missing = part.config["missing_category"]
    inputs = [helper.make_tensor_value_info(c, g.elem_type, ["batch", 1]) for c in numeric]
    inputs += [
        helper.make_tensor_value_info(c, TensorProto.STRING, ["batch", 1]) for c in categorical
    ]
    blocks = []
    if numeric:
        x = numeric[0] if len(numeric) == 1 else g.op("Concat", list(numeric), axis=1)
        median = g.const("median", part.arrays["median"])
        x = g.op("Where", [g.op("IsNaN", [x]), median, x])
        x = g.op("Sub", [x, g.const("mean", part.arrays["mean"])])
        blocks.append(g.op("Div", [x, g.const("scale", part.arrays["scale"])]))
    if categorical and g.opset < STRING_OPSET:
        raise OpsetError(
            f"a table's categories need opset {STRING_OPSET} or later (RegexFullMatch compares "
            f"their text stripped, as predict does). Received: opset={g.opset}"
        )
    for col, cats in zip(categorical, part.config["categories"], strict=True):
        if not cats:
            continue
        # Float spellings only where no category has a "." (one could be "2.0" itself).
        floats = not any("." in c for c in cats)
        hits = [
            g.op("RegexFullMatch", [col], pattern=category_pattern(c, c == missing, floats))
            for c in cats
        ]
        onehot = hits[0] if len(hits) == 1 else g.op("Concat", hits, axis=1)
        blocks.append(g.op("Cast", [onehot], to=g.elem_type))
    features = blocks[0] if len(blocks) == 1 else g.op("Concat", blocks, axis=1)
    return features, inputs


def target_nodes(g: Any, part: TablePart, y: str) -> str:
    """The network's output ``y`` in the target's units."""
    if part.scaling is None:
        return y
    mean, scale = part.scaling
    return g.op(
        "Add", [g.op("Mul", [y, g.const("target_scale", scale)]), g.const("target_mean", mean)]
    )
