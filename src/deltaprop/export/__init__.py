"""Export trained networks to other runtimes (ONNX)."""

from deltaprop.export.onnx import export_onnx

__all__ = ["export_onnx"]
