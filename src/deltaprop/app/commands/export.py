"""``deltaprop export``: a trained model as an ONNX file, its preprocessing included."""

from __future__ import annotations

import argparse
from typing import Any

from deltaprop.app.console import Output
from deltaprop.app.errors import EXIT_OK, UsageError
from deltaprop.app.models import check_state, load_model
from deltaprop.app.output_files import (
    check_new,
    check_not_input,
    check_parent,
    check_writable,
    writing,
)

__all__ = ["run_export"]


def run_export(args: argparse.Namespace, out: Output) -> int:
    model, state = load_model(args.model)  # the input first, then the output policy
    check_not_input([("--onnx", args.onnx)], [("MODEL", args.model)])
    check_new([args.onnx], args.force)
    check_parent(args.onnx)
    check_writable(args.onnx.parent, "--onnx", args.onnx)
    try:
        from deltaprop.export import OpsetError, export_onnx
    except ImportError as exc:
        raise RuntimeError(
            f"exporting to ONNX needs the onnx package (pip install 'deltaprop[onnx]'): {exc}"
        ) from None
    pipeline = _with_preprocessing(model, state, args)
    try:
        with writing("ONNX file", args.onnx, "--onnx"):  # whole, or not at all
            proto = export_onnx(pipeline, args.onnx, opset=args.opset, dtype=args.dtype)
    except OpsetError as exc:  # --opset out of range or too old for the model: usage
        raise UsageError(f"--opset {args.opset}: {exc}") from None
    graph = proto.graph
    dims = [d.dim_value or d.dim_param for d in graph.output[0].type.tensor_type.shape.dim]
    shape = ", ".join(map(str, dims))
    if state is None:
        n_in = graph.input[0].type.tensor_type.shape.dim[1].dim_value
        inputs = f"input X (batch, {n_in})"
    else:
        inputs = f"{len(graph.input)} inputs (one (batch, 1) per column)"
    out.line(f"wrote {args.onnx}: {inputs} → {graph.output[0].name} ({shape}), opset {args.opset}")
    if state is not None:
        out.note(
            "the graph takes the raw columns, numbers (NaN where missing) and categories as "
            'strings ("" where missing), and includes the preprocessing'
            + ("; the output is in the target's units" if state[0].get("target_scaling") else "")
        )
    return EXIT_OK


def _with_preprocessing(model: Any, state: Any, args: argparse.Namespace) -> Any:
    """The model, or the pipeline of its preprocessing and target scaling."""
    if state is None:
        return model
    from deltaprop.sklearn import model_pipeline

    pre, scaler = check_state(args.model, model, state)
    scaling = None if scaler is None else (scaler.mean, scaler.scale)
    return model_pipeline(model, pre.to_sklearn(), scaling)
