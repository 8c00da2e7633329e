"""The safetensors container of model files and checkpoints, and atomic writes.

A file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: an 8-byte
little-endian header length, a JSON header, then the raw little-endian tensor bytes. The
header's ``__metadata__`` maps strings to strings; the structured values in it are strict
JSON (:mod:`deltaprop.io.strict_json`). :func:`read_container` checks the length field
against the file's size BEFORE it allocates anything, then the header, the format, the
version and every tensor entry (dtype, shape, offsets without gaps or overlaps, finite
values), and never runs code from the file (no pickle anywhere). :func:`atomic_write` puts
the bytes on disk so that a crash leaves the old file or the new one.

Metadata keys shared by every file: ``format`` (``"deltaprop"``; ``"backprop"`` in files
written before the rename, read as is), ``format_version`` (``"1"``), ``kind`` (``"model"``
or ``"checkpoint"``), ``class``, ``config`` (JSON) and ``library_version``.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.io.errors import ModelFileError, ModelFileNotFoundError
from deltaprop.io.strict_json import parse_json, to_json

__all__ = [
    "CODES",
    "DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "LEGACY_FORMATS",
    "MAX_HEADER_BYTES",
    "MODEL_KEYS",
    "OPTIONAL_KEYS",
    "PathLike",
    "atomic_write",
    "base_meta",
    "check_meta_keys",
    "encode",
    "read_container",
]

FORMAT_VERSION = 1
"""Version of the file layout written; files of exactly this version are read."""

MAX_HEADER_BYTES = 100 * 2**20
"""Largest JSON header accepted (100 MiB); a larger length is rejected before reading."""

PathLike = str | os.PathLike[str]

FORMAT = "deltaprop"
"""The metadata ``format`` of the files written."""
LEGACY_FORMATS = ("backprop",)
"""``format`` values of files written before the rename (``backprop`` 0.1): read as is."""
MODEL_KEYS = frozenset({"format", "format_version", "kind", "class", "config"})
"""Metadata keys every file has."""
OPTIONAL_KEYS = frozenset({"layout", "library_version"})
"""Metadata keys a file may have, whatever its kind."""
# safetensors dtype codes read and written; the float codes hold weights, the integer
# codes counters and random-generator state.
DTYPES: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
}
"""The safetensors dtype codes read and written, and their little-endian dtypes."""
CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
"""The dtype code of each native-order dtype."""


# ---------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------
def atomic_write(path: PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the new one.

    The bytes go to a temporary file in the same folder, which is flushed, ``fsync``-ed and
    then renamed over ``path`` with :func:`os.replace` (atomic on POSIX and Windows). On any
    error the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        Destination file; its folder must exist.
    data : bytes
    overwrite : bool, default=True
        If False, raise :class:`FileExistsError` when ``path`` exists.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path is a directory, not a file. Received: path={str(path)!r}")
    if not overwrite and path.exists():
        raise FileExistsError(
            f"{str(path)!r} exists and overwrite=False. Received: path={str(path)!r}"
        )
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# The safetensors container
# ---------------------------------------------------------------------------------------
def _library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deltaprop")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save as st_save

    out = {}
    for name, arr in tensors.items():
        if arr.dtype.newbyteorder("=") not in CODES:
            raise TypeError(
                f"tensor {name!r} has dtype {arr.dtype}; model files hold float32, float64, "
                "int64, uint32 or uint64 only"
            )
        out[name] = np.array(arr, dtype=arr.dtype.newbyteorder("<"), order="C")
    return bytes(st_save(out, metadata=metadata))


def read_container(path: PathLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Read and check a safetensors file: header, format, version, tensor table, values.

    Messages do not name the file; :func:`~deltaprop.io.errors.naming_file` adds it.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise ModelFileError(
                    f"not a model file: {size} bytes is too short for a safetensors header"
                )
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise ModelFileError(
                    f"not a model file: the header length field says {n} bytes "
                    f"(limit {MAX_HEADER_BYTES})"
                )
            if 8 + n > size:
                raise ModelFileError(
                    f"truncated or not a model file: the header length field says {n} bytes "
                    f"but only {size - 8} follow"
                )
            raw = f.read(n)
            data = f.read()
    except FileNotFoundError:
        raise ModelFileNotFoundError("no such file") from None
    except IsADirectoryError:
        raise ModelFileError("a directory, not a model file") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError("not a model file: the header is not UTF-8") from None
    if not text.startswith("{"):
        raise ModelFileError("not a model file: the header is not a JSON object")
    header = parse_json(text, "the safetensors header")
    if not isinstance(header, dict):
        raise ModelFileError("not a model file: the header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise ModelFileError(
            "not a deltaprop model file: __metadata__ is missing or not a string-to-string map"
        )
    if meta.get("format") not in (FORMAT, *LEGACY_FORMATS):
        raise ModelFileError(
            f"not a deltaprop model file: metadata 'format' is {meta.get('format')!r}, "
            f"expected {FORMAT!r}"
        )
    version = meta.get("format_version")
    if version is None:
        raise ModelFileError("metadata has no 'format_version'")
    if version != str(FORMAT_VERSION):
        raise ModelFileError(
            f"unsupported format_version {version!r}; this version of deltaprop reads "
            f"format_version {str(FORMAT_VERSION)!r}"
        )
    return meta, _read_tensors(header, data)


def _read_tensors(header: dict[str, Any], data: bytes) -> dict[str, np.ndarray]:
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(
                f"tensor {name!r}: header entry must have exactly the keys dtype, shape, "
                f"data_offsets. Received: {entry!r}"[:300]
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in DTYPES:
            raise ModelFileError(
                f"tensor {name!r} has unsupported dtype {code!r}; expected one of "
                f"{', '.join(DTYPES)}"
            )
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise ModelFileError(f"tensor {name!r} has an invalid shape {shape!r}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise ModelFileError(f"tensor {name!r} has invalid data_offsets {offsets!r}")
        nbytes = math.prod(shape) * DTYPES[code].itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise ModelFileError(
                f"tensor {name!r}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes "
                f"but shape {tuple(shape)} of {code} needs {nbytes}"
            )
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            raise ModelFileError(
                f"tensor {name!r} starts at byte {begin} of the data section, expected {end}: "
                "tensors overlap or leave gaps"
            )
        end = stop
    if end != len(data):
        raise ModelFileError(
            f"the data section has {len(data)} bytes but the tensors need {end}: the file is "
            "truncated or has trailing bytes"
        )
    tensors = {}
    for begin, stop, name in spans:
        entry = header[name]
        dt = DTYPES[entry["dtype"]]
        arr = np.frombuffer(data, dtype=dt, count=(stop - begin) // dt.itemsize, offset=begin)
        arr = arr.reshape(entry["shape"]).astype(dt.newbyteorder("="))
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ModelFileError(f"tensor {name!r} contains NaN or infinity")
        tensors[name] = arr
    return tensors


def check_meta_keys(
    meta: dict[str, str],
    kind: str,
    required: frozenset[str],
    optional: frozenset[str] = OPTIONAL_KEYS,
) -> None:
    """Check the file's ``kind`` and that its metadata has exactly the keys expected."""
    if meta.get("kind") != kind:
        other = meta.get("kind")
        hint = (
            "; use load_checkpoint(path, trainer)"
            if other == "checkpoint"
            else ("; use load(path)" if other == "model" else "")
        )
        raise ModelFileError(f"the file's kind is {other!r}, expected {kind!r}{hint}")
    missing = sorted(required - set(meta))
    unexpected = sorted(set(meta) - required - optional)
    if missing:
        raise ModelFileError(f"metadata is missing keys: {', '.join(missing)}")
    if unexpected:
        raise ModelFileError(f"metadata has unexpected keys: {', '.join(unexpected)}")


def base_meta(kind: str, class_name: str, config: Any) -> dict[str, str]:
    """The metadata every file written starts with."""
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": kind,
        "class": class_name,
        "config": to_json(config, "config"),
        "library_version": _library_version(),
    }
