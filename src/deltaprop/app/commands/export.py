"""``deltaprop export``: a trained model's network as an ONNX file."""

from __future__ import annotations

import argparse

from deltaprop.app.console import Output
from deltaprop.app.errors import EXIT_OK
from deltaprop.app.models import load_model
from deltaprop.app.output_files import check_new, check_not_input, check_parent

__all__ = ["run_export"]


def run_export(args: argparse.Namespace, out: Output) -> int:
    model, state = load_model(args.model)  # the input first, then the output policy
    check_not_input([("--onnx", args.onnx)], [("MODEL", args.model)])
    check_new([args.onnx], args.force)
    check_parent(args.onnx)
    try:
        from deltaprop.export import export_onnx
    except ImportError as exc:
        raise RuntimeError(
            f"exporting to ONNX needs the onnx package (pip install 'deltaprop[onnx]'): {exc}"
        ) from None
    proto = export_onnx(model, args.onnx, opset=args.opset, dtype=args.dtype)
    graph = proto.graph
    dims = [d.dim_value or d.dim_param for d in graph.output[0].type.tensor_type.shape.dim]
    n_in = graph.input[0].type.tensor_type.shape.dim[1].dim_value
    shape = ", ".join(map(str, dims))
    out.line(
        f"wrote {args.onnx}: input X (batch, {n_in}) → {graph.output[0].name} ({shape}), "
        f"opset {args.opset}"
    )
    if state is not None:
        out.note(
            f"the graph takes the {n_in} preprocessed features (standardized numbers, one-hot "
            "categories); the model file's preprocessing is not part of it"
        )
        scaling = state[0].get("target_scaling")
        if scaling:
            out.note(
                f"the output is the standardized target: multiply by {scaling['scale']:.6g} and "
                f"add {scaling['mean']:.6g}"
            )
    return EXIT_OK
