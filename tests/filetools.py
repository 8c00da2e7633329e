"""Helpers for tests that take safetensors files apart and put them back together."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import safetensors.numpy as stnp


def split_file(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the data section of a safetensors file."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def join_file(header: dict[str, Any], data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def rewrite(path: Path, header: dict[str, Any], data: bytes) -> Path:
    path.write_bytes(join_file(header, data))
    return path


def retensor(path: Path, change: Any) -> Path:
    """Re-encode the file after ``change(tensors)`` edits the arrays, keeping the metadata."""
    header, _ = split_file(path.read_bytes())
    tensors = stnp.load(path.read_bytes())
    change(tensors)
    path.write_bytes(stnp.save(tensors, metadata=header["__metadata__"]))
    return path
