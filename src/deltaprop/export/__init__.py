"""Export trained networks to other runtimes (ONNX)."""

from deltaprop.export.onnx import DEFAULT_OPSET, export_onnx

__all__ = ["DEFAULT_OPSET", "export_onnx"]
