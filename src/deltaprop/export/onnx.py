"""ONNX graph of a trained network, for inference in any ONNX runtime.

The graph is the evaluation-mode forward pass: for each layer ``Gemm(A, W, b, transB=1)``
(``W`` keeps its ``(n_l, n_{l-1})`` layout, as ``Z = A Wᵀ + b``), batch normalization with
the running statistics, then the activation. The input ``X`` has shape ``(batch, n_0)``
with a dynamic ``batch``; the output is ``output`` of shape ``(batch, n_L)``, or
``probabilities`` for a classifier.

Each activation maps to ONNX operators as follows (``α`` as in the network)::

    identity    (none)                     softmax   Softmax(axis=1)
    sigmoid     Sigmoid                    tanh      Tanh
    relu        Relu                       exp       Exp(Min(z, log(max float) - 1))
    leaky_relu  LeakyRelu(α)               elu       Elu(α)
    gelu        z · ½(1 + Erf(z/√2))  (Gelu for opset ≥ 20)
    softplus    Softplus

ONNX Runtime has no float64 kernels for ``Elu``, ``Erf``, ``Gelu`` and ``Softplus``, and
``LeakyRelu``/``Elu`` keep ``α`` as a float32 attribute. A float64 network is therefore
exported with elementary operators instead: ``Where(z > 0, z, α z)``,
``Where(z > 0, z, α (Exp(Min(z, 0)) - 1))``, ``Relu(z) + Log(1 + Exp(-|z|))``, and GELU's
``Φ(z)`` as ``exp(-z²/2) erfcx(|z|/√2)`` with ``erfcx`` a piecewise polynomial
(:mod:`deltaprop.core.onnx_erfc`: within 1e-15 of ``forward`` absolute).

>>> import os, tempfile
>>> import numpy as np
>>> import onnxruntime as ort
>>> from deltaprop import Network
>>> from deltaprop.export.onnx import export_onnx
>>> net = Network([3, 8, 2], "gelu", "categorical_crossentropy", seed=0, dtype="float32")
>>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
>>> _ = export_onnx(net, path)
>>> X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
>>> (out,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"X": X})
>>> bool(np.allclose(out, net.forward(X), atol=1e-5))
True
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.core import Network
from deltaprop.export.table_onnx import (
    OpsetError,
    preprocessing_nodes,
    table_part,
    target_nodes,
)
from deltaprop.io import atomic_write

if TYPE_CHECKING:
    import onnx

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export_onnx"]

DEFAULT_OPSET = 20
"""The ONNX opset written by default (ONNX Runtime 1.17 on; a table's categories need 20)."""

MIN_OPSET = 13
"""The oldest opset accepted (``Softmax`` takes one axis from opset 13 on)."""


class _Graph:
    """Nodes and initializers of one graph, with unique names.

    It is the graph :class:`~deltaprop.core.activation_base.OnnxGraph` describes, so each
    activation adds its own nodes (:meth:`~deltaprop.core.activation_base.Activation.onnx_nodes`).
    """

    def __init__(self, dtype: np.dtype[Any], opset: int) -> None:
        from onnx import TensorProto

        self.dtype = dtype
        self.opset = opset
        self.double = dtype == np.float64
        self.elem_type = TensorProto.DOUBLE if self.double else TensorProto.FLOAT
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    reserved: frozenset[str] = frozenset()
    """Names taken by the graph's inputs (a table's columns)."""

    def _name(self, hint: str) -> str:
        self._count += 1
        while f"{hint}_{self._count}" in self.reserved:
            self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: Any, dtype: Any = None) -> str:
        from onnx import numpy_helper

        name = self._name(hint)
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = output or self._name(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, inputs, [out], name=self._name(op_type), **attrs)
        )
        return out


def _network_nodes(g: _Graph, net: Network, x: str) -> tuple[str, str]:
    """Dense layers, batch norm (running statistics) and activations; dropout is omitted.

    Returns the names of the output ``A[L]`` and of its pre-activation ``Z[L]``.
    """
    to_np = net.backend.to_numpy
    a = z = x
    for l, layer in enumerate(net.dense, start=1):
        W = g.const(f"W{l}", to_np(layer.W))
        b = g.const(f"b{l}", to_np(layer.b))
        z = g.op("Gemm", [a, W, b], transB=1)
        bn = layer.batch_norm
        if bn is not None:
            inputs = [z] + [
                g.const(f"{key}{l}", to_np(arr))
                for key, arr in (
                    ("gamma", bn.params["gamma"]),
                    ("beta", bn.params["beta"]),
                    ("running_mean", bn.running_mean),
                    ("running_var", bn.running_var),
                )
            ]
            z = g.op("BatchNormalization", inputs, epsilon=float(bn.epsilon))
        a = layer.activation.onnx_nodes(g, z)
    return a, z


def _resolve(model: Any) -> tuple[Network, Any, bool]:
    """The network, the estimator (or None) and whether to output two-class probabilities."""
    if isinstance(model, Network):
        return model, None, False
    net = getattr(model, "network_", None)
    if not isinstance(net, Network):
        fitted = any(
            k.endswith("_") and not k.startswith("_") for k in getattr(model, "__dict__", {})
        )
        name = type(model).__qualname__
        why = (
            ""
            if not hasattr(type(model), "fit")
            else " (not fitted: network_ is missing)"
            if not fitted
            else " (fitted, but a TransformedTargetRegressor exports inside a Pipeline after a "
            "TablePreprocessor)"
            if name == "TransformedTargetRegressor"
            else " (fitted, but not a deltaprop model: it has no network_)"
        )
        raise TypeError(
            "export_onnx expects a Network or a fitted estimator with a network_ attribute. "
            f"Received: {name}{why}"
        )
    classes = getattr(model, "classes_", None)
    # Two classes from one sigmoid unit; a multilabel classifier has one unit per label.
    binary = (
        classes is not None
        and len(classes) == 2
        and net.layer_sizes[-1] == 1
        and net.output_activation.name == "sigmoid"
    )
    return net, model, binary


def export_onnx(
    model: Any,
    path: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    dtype: str | None = None,
) -> onnx.ModelProto:
    """Write the ONNX graph of a trained network, atomically.

    Parameters
    ----------
    model : Network, fitted estimator or pipeline
        A :class:`~deltaprop.core.network.Network`, an object with a fitted ``network_``
        (``MLPClassifier``, ``MLPRegressor``), or a pipeline of a ``TablePreprocessor`` and
        one (what :func:`deltaprop.load` returns for a model of ``deltaprop train``): its
        graph starts with the preprocessing and takes one input per column
        (:mod:`deltaprop.export.table_onnx`), and a regressor's output is in the target's
        units. A classifier (it has ``classes_``) outputs
        ``probabilities`` as ``predict_proba`` does: the softmax or multilabel sigmoid
        output as it is, and for two classes with one sigmoid unit of logit ``z`` the two
        columns ``[σ(-z), σ(z)]``.
    path : str or path-like
        The ``.onnx`` file to write.
    opset : int, default=20
        ONNX opset version, at least 13 (20 for a pipeline with categorical columns).
    dtype : {"float32", "float64"}, optional
        The graph's input, weights and output type; by default the network's. A float64
        network exported as float32 serves runtimes and accelerators without double
        kernels, to float32's precision.

    Returns
    -------
    onnx.ModelProto
        The model written, which passed ``onnx.checker.check_model(full_check=True)``.
        Input ``X`` of shape ``(batch, n_0)`` (a pipeline: one ``(batch, 1)`` input per
        column, numbers in ``dtype`` and categories as strings); output ``output`` or
        ``probabilities`` of shape ``(batch, n_out)``, in ``dtype`` (float32 or float64);
        where a pipeline has a column of that name, the output takes ``_`` after it
        (``output_``), the input keeping the column's name.

    Raises
    ------
    TypeError
        If ``model`` is neither a network nor a fitted estimator.
    OpsetError
        For an invalid ``opset`` (an opset below 20 for a pipeline with categorical
        columns); a ``ValueError``, as the others.
    ValueError
        For an invalid ``dtype``, or an activation with no ONNX form.
    """
    import onnx
    from onnx import helper

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise OpsetError(
            f"opset must be an integer from {MIN_OPSET} to {newest}. Received: opset={opset!r}"
        )
    if dtype not in (None, "float32", "float64"):
        raise ValueError(f"dtype must be 'float32', 'float64' or None. Received: dtype={dtype!r}")
    part = table_part(model)
    net, estimator, binary = _resolve(model if part is None else part.estimator)
    g = _Graph(net.dtype if dtype is None else np.dtype(dtype), opset)
    if part is None:
        x = "X"
        inputs = [helper.make_tensor_value_info("X", g.elem_type, ["batch", net.layer_sizes[0]])]
    else:
        g.reserved = frozenset(part.columns)
        x, inputs = preprocessing_nodes(g, part)
    a, z = _network_nodes(g, net, x)
    is_classifier = estimator is not None and hasattr(estimator, "classes_")
    output = "probabilities" if is_classifier else "output"
    while output in g.reserved:  # a column of that name: the input keeps the column's name
        output += "_"
    n_out = net.layer_sizes[-1]
    if binary:
        # Both columns from the logit, as predict_proba: [σ(-z), σ(z)], no 1 - p cancellation.
        negative = g.op("Sigmoid", [g.op("Neg", [z])])
        g.op("Concat", [negative, a], output=output, axis=1)
        n_out = 2
    else:
        g.op("Identity", [a if part is None else target_nodes(g, part, a)], output=output)

    graph = helper.make_graph(
        g.nodes,
        "deltaprop_network",
        inputs,
        [helper.make_tensor_value_info(output, g.elem_type, ["batch", n_out])],
        initializer=g.initializers,
    )
    proto = helper.make_model_gen_version(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="deltaprop",
        doc_string=repr(net),
    )
    props = {"deltaprop_config": json.dumps(net.get_config(), allow_nan=False)}
    if is_classifier:
        classes = np.asarray(estimator.classes_)
        if classes.dtype.kind in "biufU":
            props["classes"] = json.dumps(classes.tolist())
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    atomic_write(path, proto.SerializeToString())
    return proto
