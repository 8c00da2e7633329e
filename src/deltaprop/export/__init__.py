"""Export trained networks to other runtimes (ONNX)."""

from deltaprop.export.onnx import DEFAULT_OPSET, export_onnx
from deltaprop.export.table_onnx import OpsetError

__all__ = ["DEFAULT_OPSET", "OpsetError", "export_onnx"]
