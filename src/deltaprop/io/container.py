"""The safetensors container of model files and checkpoints, and atomic writes.

A file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: an 8-byte
little-endian header length, a JSON header, then the raw little-endian tensor bytes. The
header's ``__metadata__`` maps strings to strings; the structured values in it are strict
JSON (:mod:`deltaprop.io.strict_json`). :func:`read_container` opens regular files only,
checks the length field against the file's size BEFORE it allocates anything, then the
header, the format, the version and every tensor entry (dtype, shape, offsets without gaps
or overlaps, their total against the file's length); it reads no tensor: the caller checks
the table against what the file's class needs, then reads the tensors it named, each by its
offsets (:class:`TensorTable`), and their floats must be finite. No code from the file is
ever run (no pickle anywhere). :func:`atomic_write` puts
the bytes on disk so that a crash leaves the old file or the new one.

Metadata keys shared by every file: ``format`` (``"deltaprop"``; ``"backprop"`` in files
written before the rename, read as is), ``format_version`` (``"1"``), ``kind`` (``"model"``
or ``"checkpoint"``), ``class``, ``config`` (JSON) and ``library_version``.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import stat
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.io.errors import ModelFileError, ModelFileNotFoundError, WrongKindError
from deltaprop.io.strict_json import parse_json, to_json

__all__ = [
    "CODES",
    "DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "LEGACY_FORMATS",
    "MAX_HEADER_BYTES",
    "MAX_NDIM",
    "MODEL_KEYS",
    "OPTIONAL_KEYS",
    "PathLike",
    "TensorEntry",
    "TensorTable",
    "atomic_write",
    "base_meta",
    "check_meta_keys",
    "check_path",
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
_TMP_SUFFIX = ".tmp"


def check_path(path: Any, name: str = "path") -> Path:
    """``path`` (a str, a bytes path or an :class:`os.PathLike`) as a :class:`~pathlib.Path`.

    Raises
    ------
    TypeError
        For anything else, before any call to the operating system: an int would be taken
        for a file descriptor (read, then closed: the caller's), None for nothing.
    """
    if isinstance(path, bytes):
        return Path(os.fsdecode(path))
    if isinstance(path, str | os.PathLike):
        fspath = os.fspath(path)
        if isinstance(fspath, bytes):
            fspath = os.fsdecode(fspath)
        return Path(fspath)
    raise TypeError(
        f"{name} must be a file path (str or os.PathLike). "
        f"Received: {name}={path!r} of type {type(path).__name__}"
    )


def stale_temp_files(path: PathLike) -> list[Path]:
    """The temporary files that interrupted :func:`atomic_write` calls of ``path`` left
    beside it (``.<name>.<random>.tmp``: regular files, not links), for a caller to remove;
    for a symbolic link, beside its target (where :func:`atomic_write` writes).
    """
    path = Path(os.path.realpath(check_path(path)))
    if not path.parent.is_dir():
        return []
    pattern = f".{glob.escape(path.name)}.*{_TMP_SUFFIX}"
    return [p for p in sorted(path.parent.glob(pattern)) if p.is_file() and not p.is_symlink()]


def _is_stream(path: Path) -> bool:
    """Whether ``path`` (followed through links) is a character device or a FIFO."""
    with contextlib.suppress(OSError):
        return stat.S_ISCHR(mode := os.stat(path).st_mode) or stat.S_ISFIFO(mode)
    return False


def atomic_write(path: PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the new one.

    The bytes go to a temporary file in the same folder, which is flushed, ``fsync``-ed and
    then renamed over ``path`` with :func:`os.replace` (atomic on POSIX and Windows). On any
    error the temporary file is removed and ``path`` is left as it was. A symbolic link is
    followed (:func:`os.path.realpath`): its target is replaced and the link kept. A
    character device or a FIFO (``/dev/null``, ``/dev/stdout``) is written into, not replaced.

    Parameters
    ----------
    path : str or path-like
        Destination file; its folder must exist (else :class:`FileNotFoundError`, before
        anything is created).
    data : bytes
    overwrite : bool, default=True
        If False, raise :class:`FileExistsError` when ``path`` exists.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    given = check_path(path)
    if not overwrite and os.path.exists(given):
        raise FileExistsError(
            f"{str(given)!r} exists and overwrite=False. Received: path={str(given)!r}"
        )
    if _is_stream(given):  # a device or a FIFO (/dev/null, /dev/stdout): written into, kept
        with open(given, "wb") as f:
            f.write(data)
        return given
    path = Path(os.path.realpath(given))  # through a link: the target is replaced
    if path.is_dir():
        raise IsADirectoryError(f"path is a directory, not a file. Received: path={str(given)!r}")
    if not path.parent.is_dir():
        what = "is not a directory" if path.parent.exists() else "does not exist"
        error = NotADirectoryError if path.parent.exists() else FileNotFoundError
        raise error(f"cannot write {str(given)!r}: the folder {str(given.parent)!r} {what}. "
                    f"Received: path={str(given)!r}")  # fmt: skip
    folder, mode = path.parent, path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
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
    return given


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
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


MAX_NDIM = 8
"""Most dimensions a tensor entry may declare (the files hold 0-, 1- and 2-D tensors)."""


@dataclass(frozen=True)
class TensorEntry:
    """One checked entry of a file's tensor table: where its bytes are and what they are."""

    code: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


class TensorTable(Mapping[str, TensorEntry]):
    """A file's checked tensor table; :meth:`read` reads only the tensors asked for.

    Every entry was checked against the header's rules and the file's length before this
    table existed, so reading a tensor allocates at most its declared (and present) bytes.
    """

    def __init__(self, path: PathLike, data_start: int, entries: dict[str, TensorEntry]) -> None:
        self.path = path
        self.data_start = data_start
        self.entries = entries

    def __getitem__(self, name: str) -> TensorEntry:
        return self.entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def specs(self, names: Iterable[str] | None = None) -> dict[str, tuple[tuple[int, ...], str]]:
        """``{name: (shape, dtype code)}`` of the entries (all, or ``names``)."""
        names = self.entries if names is None else names
        return {k: (self.entries[k].shape, self.entries[k].code) for k in names}

    def read(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The tensors (all, or ``names``), read by their offsets; floats must be finite."""
        names = list(self.entries if names is None else names)
        tensors = {}
        try:
            with open(self.path, "rb") as f:
                for name in names:
                    entry = self.entries[name]
                    f.seek(self.data_start + entry.begin)
                    raw = f.read(entry.nbytes)
                    if len(raw) != entry.nbytes:
                        raise ModelFileError(f"tensor {name!r}: the file changed while read")
                    dt = DTYPES[entry.code]
                    arr = np.frombuffer(raw, dtype=dt).reshape(entry.shape)
                    arr = arr.astype(dt.newbyteorder("="))
                    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                        raise ModelFileError(f"tensor {name!r} contains NaN or infinity")
                    tensors[name] = arr
        except OSError as exc:
            raise ModelFileError(f"cannot read the file: {exc.strerror or exc}") from None
        return tensors


def _regular_file_size(path: PathLike) -> int:
    """The size of ``path``, refused unless it is a regular file (checked before opening,
    so that a FIFO cannot block and a device cannot stream forever)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelFileNotFoundError("no such file") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError("a directory, not a model file")
    if not stat.S_ISREG(st.st_mode):
        what = (
            "a FIFO" if stat.S_ISFIFO(st.st_mode)
            else "a character device" if stat.S_ISCHR(st.st_mode)
            else "a block device" if stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )  # fmt: skip
        raise ModelFileError(f"{what}, not a model file: only regular files are read")
    return int(st.st_size)


_PROTOBUF_TAGS = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0x7A})
"""The tags of an ``onnx.ModelProto``'s fields after ``ir_version`` (field 1, ``0x08``)."""


def _foreign_kind(start: bytes) -> str | None:
    """What a file that is not safetensors is, by its first bytes, or None.

    A safetensors file's 8-byte header length is followed by ``{``; an ONNX model is a
    protobuf message that starts with ``ir_version`` (``0x08``, a small number), then
    another field.
    """
    if len(start) > 8 and start[8:9] == b"{":
        return None
    if len(start) >= 3 and start[0] == 0x08 and 0 < start[1] < 0x80 and start[2] in _PROTOBUF_TAGS:
        return (
            "it is an ONNX file (deltaprop writes ONNX with export_onnx or `deltaprop export "
            "--onnx` but loads only its safetensors model files; run it with an ONNX runtime)"
        )
    return None


def read_container(path: PathLike) -> tuple[dict[str, str], TensorTable]:
    """Read and check a safetensors file's header, format, version and tensor table.

    Nothing but the 8-byte length field and the header is read: every entry of the tensor
    table (dtype, shape, offsets without gaps or overlaps, their total against the file's
    length) is checked first, and the tensors are read later, each by its offsets, with
    :meth:`TensorTable.read`, once the caller has checked the table against what the
    file's class needs. Only regular files are opened. Messages do not name the file;
    :func:`~deltaprop.io.errors.naming_file` adds it.
    """
    path = check_path(path)
    size = _regular_file_size(path)
    if size < 8:
        raise ModelFileError(
            f"not a model file: {size} bytes is too short for a safetensors header"
        )
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ModelFileError("not a regular file, not a model file")
            start = f.read(16)
            foreign = _foreign_kind(start)
            if foreign is not None:
                raise ModelFileError(f"not a model file: {foreign}")
            (n,) = struct.unpack("<Q", start[:8])
            f.seek(8)
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
    except OSError as exc:
        raise ModelFileError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) != n:
        raise ModelFileError("truncated: the file changed while read")
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
    return meta, TensorTable(path, 8 + n, _tensor_table(header, size - 8 - n))


def _entry(name: str, entry: Any) -> TensorEntry:
    """One header entry, checked on its own (no allocation: the numbers only)."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ModelFileError(
            f"tensor {name!r}: header entry must have exactly the keys dtype, shape, "
            f"data_offsets. Received: {entry!r}"[:300]
        )
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in DTYPES:
        raise ModelFileError(
            f"tensor {name!r} has unsupported dtype {code!r}; expected one of {', '.join(DTYPES)}"[
                :300
            ]
        )
    if not (
        isinstance(shape, list)
        and len(shape) <= MAX_NDIM
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
    ):
        raise ModelFileError(
            f"tensor {name!r} has an invalid shape {shape!r} (at most {MAX_NDIM} non-negative "
            "integers)"[:300]
        )
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise ModelFileError(f"tensor {name!r} has invalid data_offsets {offsets!r}"[:300])
    nbytes = math.prod(shape) * DTYPES[code].itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise ModelFileError(
            f"tensor {name!r}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes "
            f"but shape {tuple(shape)} of {code} needs {nbytes}"
        )
    return TensorEntry(code, tuple(shape), offsets[0], offsets[1])


def _tensor_table(header: dict[str, Any], data_size: int) -> dict[str, TensorEntry]:
    """The checked entries: each valid, contiguous, and together exactly the data section."""
    entries = {name: _entry(name, entry) for name, entry in header.items()}
    end = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != end:
            raise ModelFileError(
                f"tensor {name!r} starts at byte {entry.begin} of the data section, expected "
                f"{end}: tensors overlap or leave gaps"
            )
        end = entry.end
    if end != data_size:
        raise ModelFileError(
            f"the data section has {data_size} bytes but the tensors need {end}: the file is "
            "truncated or has trailing bytes"
        )
    return entries


def check_meta_keys(
    meta: dict[str, str],
    kind: str,
    required: frozenset[str],
    optional: frozenset[str] = OPTIONAL_KEYS,
) -> None:
    """Check the file's ``kind`` and that its metadata has exactly the keys expected."""
    if meta.get("kind") != kind:
        raise WrongKindError(meta.get("kind"), kind)
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
