"""ONNX nodes of a table's preprocessing, in front of the network (as skl2onnx does for a
pipeline).

A pipeline of a :class:`~deltaprop.sklearn.tabular.TablePreprocessor` and an estimator (what
:func:`deltaprop.load` returns for a model trained by ``deltaprop train``) exports with one
input per column, of shape ``(batch, 1)``, named as the column: numbers as the graph's float
type (NaN where missing), categories as strings (the stripped text, as the command reads it;
``""`` or ``"(missing)"`` where missing). The nodes:

* numbers: ``Concat``, ``Where(IsNaN(x), median, x)``, ``Sub(mean)``, ``Div(scale)``;
* each categorical column: ``ai.onnx.ml.OneHotEncoder`` over its categories and ``""``
  (``zeros=1``: an unknown category is all zeros), then a ``MatMul`` that folds the ``""``
  indicator into the ``"(missing)"`` one (or drops it when the column had no missing value);
* the regressor's target scaling after the network: ``Add(Mul(y, scale), mean)``.

The state is read through the pipeline's duck-typed parts (``steps``, the first step's
``get_state()``, the last step's ``regressor_`` and ``transformer_``), so this package
imports no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ML_DOMAIN", "TablePart", "preprocessing_nodes", "table_part", "target_nodes"]

ML_DOMAIN = "ai.onnx.ml"
"""The domain of ``OneHotEncoder`` (opset 1)."""


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

    Raises
    ------
    TypeError
        For a pipeline that is not a preprocessing and an estimator.
    """
    steps = getattr(model, "steps", None)
    if steps is None:
        return None
    first: Any = steps[0][1] if steps else None
    if len(steps) != 2 or not callable(getattr(first, "get_state", None)):
        kinds = ", ".join(type(step).__qualname__ for _, step in steps)
        raise TypeError(
            "export_onnx takes a Pipeline of a TablePreprocessor and an estimator (as "
            f"deltaprop.load returns). Received: a Pipeline of {kinds}"
        )
    config, arrays = first.get_state()
    last = steps[1][1]
    scaling = None
    if hasattr(last, "regressor_") and hasattr(last, "transformer_"):
        mean = np.ravel(last.transformer_.mean_)
        scale = np.ravel(last.transformer_.scale_)
        if np.ptp(mean) != 0 or np.ptp(scale) != 0:
            raise TypeError("export_onnx takes one target scaling for all outputs")
        scaling = (float(mean[0]), float(scale[0]))
        last = last.regressor_
    return TablePart(last, config, arrays, scaling)


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
    for col, cats in zip(categorical, part.config["categories"], strict=True):
        if not cats:
            continue
        n = len(cats)
        onehot = g.op("OneHotEncoder", [col], domain=ML_DOMAIN, cats_strings=[*cats, ""], zeros=1)
        flat = g.op("Reshape", [onehot, g.const("shape", [-1, n + 1], np.int64)])
        if g.double:
            flat = g.op("Cast", [flat], to=TensorProto.DOUBLE)
        fold = np.vstack([np.eye(n), np.zeros((1, n))])
        if missing in cats:
            fold[n, cats.index(missing)] = 1.0
        blocks.append(g.op("MatMul", [flat, g.const("fold", fold)]))
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
