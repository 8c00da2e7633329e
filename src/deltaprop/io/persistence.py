"""Model files: safetensors weights, JSON architecture, atomic writes.

Training checkpoints use the same container and live in :mod:`deltaprop.io.checkpoints`.

A model file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: an 8-byte
little-endian header length, a JSON header, then the raw little-endian tensor bytes. The
architecture and the metadata are JSON strings in the header's ``__metadata__`` (string to
string). Loading parses the header itself, checks every entry against the architecture
before it builds anything, and never runs code from the file (no pickle anywhere).

Tensor names (format version 1)
-------------------------------
A :class:`~deltaprop.core.network.Network` is stored under the names of the ``state_dict`` of the
equivalent ``torch.nn.Sequential``, so ``safetensors.torch.load_file`` followed by
``Sequential.load_state_dict`` works as is. For each layer ``l = 1..L`` the Sequential holds,
at consecutive indices ``i``:

=========================  ===========================================  =====================
module                     tensors                                      when
=========================  ===========================================  =====================
``Linear(n_{l-1}, n_l)``   ``i.weight = W[l]`` (n_l, n_{l-1}),          always
                           ``i.bias = b[l]`` (n_l,)
``BatchNorm1d(n_l)``       ``i.weight = γ[l]``, ``i.bias = β[l]``,      hidden layer with
                           ``i.running_mean``, ``i.running_var`` (n_l,)  batch norm
                           ``i.num_batches_tracked`` (int64, shape ())
the activation             none (``Identity``, ``Sigmoid``, ``Tanh``,   always
                           ``ReLU``, ``LeakyReLU``, ``ELU``, ``GELU``,
                           ``Softplus``, ``Softmax(dim=1)``, ``Exp``)
``Dropout(p)``             none                                         hidden layer with
                                                                        dropout ``p > 0``
=========================  ===========================================  =====================

so a ``[4, 8, 3]`` network with tanh and softmax stores ``0.weight``, ``0.bias``,
``2.weight``, ``2.bias``. The list of modules is written to the metadata under ``"layout"``
(:func:`sequential_layout`). ``num_batches_tracked`` is written as 0: the running statistics
use a fixed momentum of 0.1 (PyTorch's default), for which PyTorch ignores that counter.
``Exp`` has no ``torch.nn`` class; define ``forward = torch.exp`` to load such a network.

Metadata keys
-------------
``format`` (``"deltaprop"``), ``format_version`` (``"1"``), ``kind`` (``"model"`` or
``"checkpoint"``), ``class`` (``"Network"``, ``"MLPClassifier"``, ``"MLPRegressor"`` or a
class registered with :func:`register_model_class`), ``config`` (JSON: ``Network.get_config()``
or the estimator's configuration), ``layout`` (JSON, networks and checkpoints), and
``library_version``. Checkpoints add ``checkpoint`` (JSON: the trainer's state with each array
replaced by ``{"$tensor": name}``, the optimizer and schedule class names, the network's
random generator state, ``target_epoch`` and ``finished``); their arrays are stored under
``trainer/...`` names next to the network's tensors. Non-finite floats in JSON are written as
``{"$float": "nan" | "inf" | "-inf"}`` so that the header stays strict JSON.

Every problem with a file raises :class:`ModelFileError` with a message naming what is wrong;
a missing file raises :class:`ModelFileNotFoundError`, which is both a
:class:`ModelFileError` and a :class:`FileNotFoundError`. Weights must be finite.

>>> import tempfile, os
>>> import numpy as np
>>> from deltaprop import Network
>>> from deltaprop.io.persistence import load, save
>>> net = Network([3, 5, 2], "tanh", "categorical_crossentropy", seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
>>> _ = save(net, path)
>>> X = np.ones((4, 3))
>>> bool(np.array_equal(load(path).forward(X), net.forward(X)))
True
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.core import BatchNorm, Network

__all__ = [
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "ModelFileError",
    "ModelFileNotFoundError",
    "atomic_write",
    "load",
    "register_model_class",
    "save",
    "sequential_layout",
]

FORMAT_VERSION = 1
"""Version of the file layout written by :func:`save`; :func:`load` reads exactly this one."""

MAX_HEADER_BYTES = 100 * 2**20
"""Largest JSON header accepted (100 MiB); a larger length is rejected before reading."""

PathLike = str | os.PathLike[str]

_FORMAT = "deltaprop"
_LEGACY_FORMATS = ("backprop",)
"""``format`` values of files written before the rename (``backprop`` 0.1): read as is."""
_MODEL_KEYS = {"format", "format_version", "kind", "class", "config"}
_OPTIONAL_KEYS = {"layout", "library_version"}
_CHECKPOINT_KEYS = {"checkpoint"}
# safetensors dtype codes read and written; the float codes hold weights, the integer
# codes counters and random-generator state.
_DTYPES: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_ESTIMATOR_CODES = ("F32", "F64", "I64")


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be loaded; the message says what is wrong."""


class ModelFileNotFoundError(ModelFileError, FileNotFoundError):
    """The model or checkpoint file does not exist (also a :class:`FileNotFoundError`)."""


# ---------------------------------------------------------------------------------------
# JSON with non-finite floats, strictly
# ---------------------------------------------------------------------------------------
def _plain(obj: Any, where: str) -> Any:
    """Plain JSON values; non-finite floats tagged, NumPy scalars unwrapped, tuples listed."""
    if isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
        obj = obj.item()
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"$float": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} must have string keys. Received: key {k!r}")
            out[k] = _plain(v, where)
        return out
    if isinstance(obj, list | tuple):
        return [_plain(v, where) for v in obj]
    raise TypeError(
        f"{where} must hold JSON values only (dict, list, str, int, float, bool, None). "
        f"Received: a value of type {type(obj).__name__}"
    )


def _to_json(obj: Any, where: str) -> str:
    return json.dumps(_plain(obj, where), allow_nan=False, separators=(",", ":"))


_TAGGED = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_MAX_DEPTH = 64  # far deeper than anything written; keeps every later recursion safe


def _object(pairs: list[tuple[str, Any]]) -> Any:
    """Build a JSON object: reject duplicate keys, decode ``{"$float": "nan"}`` tags."""
    if len(pairs) == 1 and pairs[0][0] == "$float" and pairs[0][1] in _TAGGED:
        return _TAGGED[pairs[0][1]]
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard constant {name}")


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        obj, depth = stack.pop()
        children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
        if children and depth > _MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _parse_json(text: str, what: str) -> Any:
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{what} is not valid JSON: {exc}") from None
    if _too_deep(value):
        raise ModelFileError(f"{what} is nested more than {_MAX_DEPTH} levels deep")
    return value


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


def _encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save as st_save

    out = {}
    for name, arr in tensors.items():
        if arr.dtype.newbyteorder("=") not in _CODES:
            raise TypeError(
                f"tensor {name!r} has dtype {arr.dtype}; model files hold float32, float64, "
                "int64, uint32 or uint64 only"
            )
        out[name] = np.array(arr, dtype=arr.dtype.newbyteorder("<"), order="C")
    return bytes(st_save(out, metadata=metadata))


def _read_container(path: PathLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Read and check a safetensors file: header, format, version, tensor table, values.

    Messages do not name the file; :func:`_naming` adds it.
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
    header = _parse_json(text, "the safetensors header")
    if not isinstance(header, dict):
        raise ModelFileError("not a model file: the header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise ModelFileError(
            "not a deltaprop model file: __metadata__ is missing or not a string-to-string map"
        )
    if meta.get("format") not in (_FORMAT, *_LEGACY_FORMATS):
        raise ModelFileError(
            f"not a deltaprop model file: metadata 'format' is {meta.get('format')!r}, "
            f"expected {_FORMAT!r}"
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


@contextlib.contextmanager
def _naming(path: PathLike) -> Iterator[None]:
    """Prefix every :class:`ModelFileError` raised inside with the file's name."""
    try:
        yield
    except ModelFileNotFoundError as exc:
        raise ModelFileNotFoundError(f"cannot load {str(path)!r}: {exc}") from None
    except ModelFileError as exc:
        raise ModelFileError(f"cannot load {str(path)!r}: {exc}") from None


def _read_tensors(header: dict[str, Any], data: bytes) -> dict[str, np.ndarray]:
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(
                f"tensor {name!r}: header entry must have exactly the keys dtype, shape, "
                f"data_offsets. Received: {entry!r}"[:300]
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in _DTYPES:
            raise ModelFileError(
                f"tensor {name!r} has unsupported dtype {code!r}; expected one of "
                f"{', '.join(_DTYPES)}"
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
        nbytes = math.prod(shape) * _DTYPES[code].itemsize
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
        dt = _DTYPES[entry["dtype"]]
        arr = np.frombuffer(data, dtype=dt, count=(stop - begin) // dt.itemsize, offset=begin)
        arr = arr.reshape(entry["shape"]).astype(dt.newbyteorder("="))
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ModelFileError(f"tensor {name!r} contains NaN or infinity")
        tensors[name] = arr
    return tensors


def _check_meta_keys(meta: dict[str, str], kind: str, required: set[str]) -> None:
    if meta.get("kind") != kind:
        other = meta.get("kind")
        hint = (
            "; use load_checkpoint(path, trainer)"
            if other == "checkpoint"
            else ("; use load(path)" if other == "model" else "")
        )
        raise ModelFileError(f"the file's kind is {other!r}, expected {kind!r}{hint}")
    missing = sorted(required - set(meta))
    unexpected = sorted(set(meta) - required - _OPTIONAL_KEYS)
    if missing:
        raise ModelFileError(f"metadata is missing keys: {', '.join(missing)}")
    if unexpected:
        raise ModelFileError(f"metadata has unexpected keys: {', '.join(unexpected)}")


# ---------------------------------------------------------------------------------------
# A network as named tensors
# ---------------------------------------------------------------------------------------
_NET_KEYS = {"layer_sizes", "activations", "loss", "init", "dtype", "dropout", "batch_norm"}
_TORCH_ACTIVATIONS = {
    "identity": "Identity",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "gelu": "GELU",
    "softplus": "Softplus",
    "softmax": "Softmax",
    "exp": "Exp",
}


def _bad_config(message: str) -> ModelFileError:
    return ModelFileError(f"invalid network config: {message}")


def _checked_config(config: Any) -> dict[str, Any]:
    """The structural checks that bound the tensor table; ``Network`` checks the rest."""
    if not isinstance(config, dict) or set(config) != _NET_KEYS:
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise _bad_config(f"expected the keys {sorted(_NET_KEYS)}. Received: {got}")
    sizes = config["layer_sizes"]
    if not (
        isinstance(sizes, list)
        and len(sizes) >= 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes)
    ):
        raise _bad_config(f"layer_sizes must be >= 2 positive integers. Received: {sizes!r}")
    L = len(sizes) - 1
    acts = config["activations"]
    if not (
        isinstance(acts, list)
        and len(acts) == L
        and all(isinstance(a, dict) and a.get("name") in _TORCH_ACTIVATIONS for a in acts)
    ):
        raise _bad_config(
            f"activations must be {L} configs with a known name. Received: {acts!r}"[:300]
        )
    bn, dropout = config["batch_norm"], config["dropout"]
    if not (isinstance(bn, list) and len(bn) == L - 1 and all(isinstance(b, bool) for b in bn)):
        raise _bad_config(f"batch_norm must list {L - 1} bools. Received: {bn!r}")
    if not (
        isinstance(dropout, list)
        and len(dropout) == L - 1
        and all(isinstance(r, int | float) and not isinstance(r, bool) for r in dropout)
    ):
        raise _bad_config(f"dropout must list {L - 1} numbers. Received: {dropout!r}")
    if config["dtype"] not in ("float32", "float64"):
        raise _bad_config(f"dtype must be float32 or float64. Received: {config['dtype']!r}")
    return config


def sequential_layout(net: Network | dict[str, Any]) -> list[dict[str, Any]]:
    """The modules of the ``torch.nn.Sequential`` equivalent to a network.

    Parameters
    ----------
    net : Network or dict
        A network or its :meth:`~deltaprop.core.network.Network.get_config`.

    Returns
    -------
    list of dict
        One entry per module, in order: ``{"type": "Linear", "in_features": ..,
        "out_features": ..}``, ``{"type": "BatchNorm1d", "num_features": .., "eps": ..,
        "momentum": ..}``, the activation (``{"type": "LeakyReLU", "negative_slope": ..}``,
        ``{"type": "ELU", "alpha": ..}``, ``{"type": "Softmax", "dim": 1}``, or just the
        type), ``{"type": "Dropout", "p": ..}``. Module ``i`` owns the tensors ``i.*``.
    """
    config = net.get_config() if isinstance(net, Network) else net
    sizes, acts = config["layer_sizes"], config["activations"]
    bn_defaults = BatchNorm(1)
    L = len(sizes) - 1
    modules: list[dict[str, Any]] = []
    for l in range(1, L + 1):
        modules.append({"type": "Linear", "in_features": sizes[l - 1], "out_features": sizes[l]})
        if l < L and config["batch_norm"][l - 1]:
            modules.append(
                {
                    "type": "BatchNorm1d",
                    "num_features": sizes[l],
                    "eps": bn_defaults.epsilon,
                    "momentum": bn_defaults.momentum,
                }
            )
        act = dict(acts[l - 1])
        module: dict[str, Any] = {"type": _TORCH_ACTIVATIONS[act.pop("name")]}
        if module["type"] == "LeakyReLU":
            module["negative_slope"] = act.get("alpha", 0.01)
        elif module["type"] == "ELU":
            module["alpha"] = act.get("alpha", 1.0)
        elif module["type"] == "Softmax":
            module["dim"] = 1
        modules.append(module)
        if l < L and config["dropout"][l - 1] > 0:
            modules.append({"type": "Dropout", "p": float(config["dropout"][l - 1])})
    return modules


def _tensor_specs(config: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Expected tensor names, shapes and dtype codes of a network's file."""
    code = "F32" if config["dtype"] == "float32" else "F64"
    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    for i, module in enumerate(sequential_layout(config)):
        if module["type"] == "Linear":
            n_out, n_in = module["out_features"], module["in_features"]
            specs[f"{i}.weight"] = ((n_out, n_in), code)
            specs[f"{i}.bias"] = ((n_out,), code)
        elif module["type"] == "BatchNorm1d":
            n = module["num_features"]
            for name in ("weight", "bias", "running_mean", "running_var"):
                specs[f"{i}.{name}"] = ((n,), code)
            specs[f"{i}.num_batches_tracked"] = ((), "I64")
    return specs


def _network_tensors(net: Network) -> dict[str, np.ndarray]:
    """The network's weights and running statistics under the Sequential's names."""
    to_np = net.backend.to_numpy
    tensors: dict[str, np.ndarray] = {}
    dense = iter(net.dense)
    layer = None
    for i, module in enumerate(sequential_layout(net)):
        if module["type"] == "Linear":
            layer = next(dense)
            tensors[f"{i}.weight"] = to_np(layer.W).copy()
            tensors[f"{i}.bias"] = to_np(layer.b).copy()
        elif module["type"] == "BatchNorm1d":
            assert layer is not None and layer.batch_norm is not None
            bn = layer.batch_norm
            tensors[f"{i}.weight"] = to_np(bn.params["gamma"]).copy()
            tensors[f"{i}.bias"] = to_np(bn.params["beta"]).copy()
            tensors[f"{i}.running_mean"] = to_np(bn.running_mean).copy()
            tensors[f"{i}.running_var"] = to_np(bn.running_var).copy()
            tensors[f"{i}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    for name, arr in tensors.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(
                f"the network's {name!r} contains NaN or infinity; such a model cannot be saved"
            )
    return tensors


def _check_tensor_table(
    specs: dict[str, tuple[tuple[int, ...], str]], tensors: dict[str, np.ndarray]
) -> None:
    missing = [k for k in specs if k not in tensors]
    unexpected = sorted(set(tensors) - set(specs))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors: {', '.join(unexpected)}")
        raise ModelFileError(f"the tensors do not match the architecture ({'; '.join(parts)})")
    for name, (shape, code) in specs.items():
        arr = tensors[name]
        if arr.shape != shape:
            raise ModelFileError(
                f"tensor {name!r} has shape {arr.shape} but the architecture needs {shape}"
            )
        if _CODES[arr.dtype] != code:
            raise ModelFileError(
                f"tensor {name!r} has dtype {_CODES[arr.dtype]} but the architecture needs {code}"
            )
        if code == "I64" and int(arr) < 0:
            raise ModelFileError(f"tensor {name!r} is negative ({int(arr)})")


def _build_network(config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Network:
    try:
        net = Network(seed=None, **config)
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad_config(str(exc)) from None
    _assign_network(net, tensors)
    return net


def _assign_network(net: Network, tensors: dict[str, np.ndarray]) -> None:
    xp = net.xp
    dense = iter(net.dense)
    layer = None
    for i, module in enumerate(sequential_layout(net)):
        if module["type"] == "Linear":
            layer = next(dense)
            layer.W[...] = xp.asarray(tensors[f"{i}.weight"])
            layer.b[...] = xp.asarray(tensors[f"{i}.bias"])
        elif module["type"] == "BatchNorm1d":
            assert layer is not None and layer.batch_norm is not None
            bn = layer.batch_norm
            bn.params["gamma"][...] = xp.asarray(tensors[f"{i}.weight"])
            bn.params["beta"][...] = xp.asarray(tensors[f"{i}.bias"])
            bn.running_mean[...] = xp.asarray(tensors[f"{i}.running_mean"])
            bn.running_var[...] = xp.asarray(tensors[f"{i}.running_var"])


def _network_section(
    meta: dict[str, str], tensors: dict[str, np.ndarray]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checked network config and its tensors; the rest of ``tensors`` is returned."""
    config = _checked_config(_parse_json(meta["config"], "metadata 'config'"))
    specs = _tensor_specs(config)
    if "layout" in meta:
        layout = _parse_json(meta["layout"], "metadata 'layout'")
        if layout != _parse_json(_to_json(sequential_layout(config), "layout"), "layout"):
            raise ModelFileError("metadata 'layout' does not match metadata 'config'")
    _check_tensor_table(specs, {k: v for k, v in tensors.items() if "/" not in k})
    return config, {k: v for k, v in tensors.items() if "/" in k}


# ---------------------------------------------------------------------------------------
# Loadable classes
# ---------------------------------------------------------------------------------------
_LAZY_ESTIMATORS = ("MLPClassifier", "MLPRegressor")  # resolved in deltaprop.sklearn.estimators
_REGISTRY: dict[str, type] = {}


def register_model_class(cls: type, name: str | None = None) -> type:
    """Make a class savable and loadable by :func:`save` and :func:`load`.

    The class implements ``_get_model_state(self) -> (config, arrays)``, with ``config``
    a JSON-able dict and ``arrays`` a dict of float32, float64 or int64 NumPy arrays (names
    without ``/``), and the classmethod ``_from_model_state(config, arrays)``, which
    rebuilds the object and raises ``ValueError`` for inconsistent input. Files name the
    class; :func:`load` only ever instantiates registered classes. ``MLPClassifier`` and
    ``MLPRegressor`` are known without registration. Usable as a decorator.

    Parameters
    ----------
    cls : type
    name : str, optional
        Name stored in files; defaults to ``cls.__name__``.

    Returns
    -------
    type
        ``cls``.
    """
    name = cls.__name__ if name is None else name
    for method in ("_get_model_state", "_from_model_state"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"a model class must define {method}. Received: cls={cls.__qualname__}")
    if name == "Network" or name in _LAZY_ESTIMATORS:
        raise ValueError(f"the class name {name!r} is reserved. Received: name={name!r}")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"another class is registered as {name!r}. Received: cls={cls!r}")
    _REGISTRY[name] = cls
    return cls


def _resolve_class(name: str) -> type:
    if name in _LAZY_ESTIMATORS:
        try:
            import deltaprop.sklearn.estimators as estimators  # only when a file names an estimator
        except ImportError as exc:
            raise ModelFileError(
                f"the file holds a {name}, but deltaprop.sklearn.estimators cannot be imported: {exc}"
            ) from None
        cls = getattr(estimators, name, None)
        if not isinstance(cls, type) or not callable(getattr(cls, "_from_model_state", None)):
            raise ModelFileError(
                f"the file holds a {name}, which this version of deltaprop cannot load"
            )
        return cls
    if name in _REGISTRY:
        return _REGISTRY[name]
    known = ", ".join(["Network", *_LAZY_ESTIMATORS, *sorted(_REGISTRY)])
    raise ModelFileError(f"unknown model class {name!r}; loadable classes: {known}")


def _class_name(model: Any) -> str:
    name = type(model).__name__
    if name in _LAZY_ESTIMATORS or name in _REGISTRY:
        if _resolve_class(name) is type(model):
            return name
    for key, cls in _REGISTRY.items():
        if cls is type(model):
            return key
    raise TypeError(
        "save expects a Network, an MLPClassifier or MLPRegressor, or an instance of a class "
        f"registered with register_model_class. Received: {type(model).__qualname__}"
    )


# ---------------------------------------------------------------------------------------
# save / load
# ---------------------------------------------------------------------------------------
def _base_meta(kind: str, class_name: str, config: Any) -> dict[str, str]:
    return {
        "format": _FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": kind,
        "class": class_name,
        "config": _to_json(config, "config"),
        "library_version": _library_version(),
    }


def save(model: Any, path: PathLike, *, overwrite: bool = True) -> Path:
    """Save a network or an estimator to a safetensors model file, atomically.

    Parameters
    ----------
    model : Network, MLPClassifier, MLPRegressor or a registered class
        Estimators are saved through their ``_get_model_state()`` (classes, preprocessing
        settings, history and the network's parameters).
    path : str or path-like
        The file to write (conventionally ``*.safetensors``); its folder must exist.
    overwrite : bool, default=True
        If False, raise :class:`FileExistsError` when ``path`` exists.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        For an object that is not savable, or arrays of an unsupported dtype.
    ValueError
        If a weight is NaN or infinite.

    Examples
    --------
    >>> import os, tempfile
    >>> from deltaprop import Network
    >>> from deltaprop.io.persistence import save
    >>> path = save(Network([2, 3, 1], seed=0), os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> path.name
    'm.safetensors'
    """
    if isinstance(model, Network):
        meta = _base_meta("model", "Network", model.get_config())
        meta["layout"] = _to_json(sequential_layout(model), "layout")
        tensors = _network_tensors(model)
    else:
        name = _class_name(model)
        state = model._get_model_state()
        if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)):
            raise TypeError(
                f"{name}._get_model_state() must return (config, arrays). "
                f"Received: {type(state).__name__}"
            )
        config, arrays = state
        meta = _base_meta("model", name, config)
        tensors = {}
        for key, arr in arrays.items():
            if not isinstance(key, str) or not key or "/" in key or key == "__metadata__":
                raise TypeError(
                    f"{name} array names must be non-empty, without '/'. Received: {key!r}"
                )
            arr = np.asarray(arr)
            if (
                arr.dtype.newbyteorder("=") not in _CODES
                or _CODES[arr.dtype.newbyteorder("=")] not in _ESTIMATOR_CODES
            ):
                raise TypeError(
                    f"{name} array {key!r} must be float32, float64 or int64. "
                    f"Received: dtype {arr.dtype}"
                )
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError(f"{name} array {key!r} contains NaN or infinity")
            tensors[key] = arr
    return atomic_write(path, _encode(tensors, meta), overwrite=overwrite)


def load(path: PathLike) -> Any:
    """Load a model saved by :func:`save`, after checking the whole file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network or estimator
        The class named by the file (only ``Network``, the built-in estimators and classes
        registered with :func:`register_model_class` are ever built). A network gets a
        fresh random generator for its dropout masks; checkpoints keep the generator.

    Raises
    ------
    ModelFileError
        For anything wrong with the file: not a safetensors file, truncated, absurd or
        malformed header, unknown format version, missing or unexpected tensors or metadata
        keys, shapes or dtypes that do not fit the architecture, non-finite weights, an
        invalid configuration, an unknown class.
    ModelFileNotFoundError
        If ``path`` does not exist (a subclass of both ModelFileError and FileNotFoundError).
    """
    with _naming(path):
        return _load_model(path)


def _load_model(path: PathLike) -> Any:
    meta, tensors = _read_container(path)
    _check_meta_keys(meta, "model", _MODEL_KEYS)
    name = meta["class"]
    if name == "Network":
        config, rest = _network_section(meta, tensors)
        if rest:
            raise ModelFileError(f"unexpected tensors: {', '.join(sorted(rest))}")
        return _build_network(config, tensors)
    cls = _resolve_class(name)
    if "layout" in meta:
        raise ModelFileError("metadata has unexpected keys: layout")
    config = _parse_json(meta["config"], "metadata 'config'")
    bad = [k for k, v in tensors.items() if _CODES[v.dtype] not in _ESTIMATOR_CODES]
    if bad:
        raise ModelFileError(f"{name} tensors must be F32, F64 or I64: {', '.join(bad)}")
    try:
        return cls._from_model_state(config, tensors)  # type: ignore[attr-defined]
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ModelFileError(f"invalid {name} state in the file: {exc}") from None
