"""Model files: :func:`save` and :func:`load`, and the extra section.

A model file is a safetensors container (:mod:`deltaprop.io.container`) of kind ``"model"``.
Its ``class`` names what it holds: ``"Network"`` (its tensors as in
:mod:`deltaprop.io.network_files`, ``config`` = ``Network.get_config()``, and ``layout``) or a
class registered in :mod:`deltaprop.io.registry`, whose ``config`` and arrays are the
object's own state. :func:`load` only ever builds ``Network`` and registered classes, after
checking the whole file.

The extra section
-----------------
``save(model, path, extra=(config, arrays))`` stores, next to the model, a JSON-able dict
under the metadata key ``"extra"`` and float32, float64 or int64 arrays under the tensor
names ``extra/<name>``; ``load(path, return_extra=True)`` returns ``(model, extra)`` with
``extra`` that same ``(config, arrays)`` pair, or None. The model never sees it: it is for
whoever writes the file (the command line keeps its preprocessing there). Estimator files
written before the section existed (``backprop`` 0.1 and ``deltaprop`` 0.1) kept it inside
the estimator's ``config`` under a key named at registration (``legacy_extra_key``), with its
arrays named ``<key>.<name>``; :func:`load` returns those as the extra section.

Wrappers
--------
A model with an extra section can stand for a composite object: a class registered with
:func:`register_model_wrapper` is saved as its inner model plus an extra section (``split``),
and ``load(path)`` returns the composite that the first wrapper recognizing the section
builds (``wrap``); ``load(path, return_extra=True)`` returns the parts as stored.
:mod:`deltaprop.sklearn.pipeline` registers scikit-learn's ``Pipeline`` so: the files of the
``deltaprop train`` command load as a pipeline that takes the raw table.

Every problem with a file raises :class:`~deltaprop.io.errors.ModelFileError` with a message
naming the file and what is wrong; a missing file raises
:class:`~deltaprop.io.errors.ModelFileNotFoundError`. Weights must be finite.

>>> import tempfile, os
>>> import numpy as np
>>> from deltaprop import Network
>>> from deltaprop.io.models import load, save
>>> net = Network([3, 5, 2], "tanh", "categorical_crossentropy", seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
>>> _ = save(net, path, extra=({"note": "hello"}, {"scale": np.ones(3)}))
>>> X = np.ones((4, 3))
>>> back, (config, arrays) = load(path, return_extra=True)
>>> bool(np.array_equal(back.forward(X), net.forward(X))), config, arrays["scale"].shape
(True, {'note': 'hello'}, (3,))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from deltaprop.core import Network
from deltaprop.io.container import (
    CODES,
    MODEL_KEYS,
    OPTIONAL_KEYS,
    PathLike,
    TensorTable,
    atomic_write,
    base_meta,
    check_meta_keys,
    check_path,
    encode,
    read_container,
)
from deltaprop.io.errors import ModelFileError, naming_file
from deltaprop.io.network_files import (
    build_network,
    network_section,
    network_tensors,
    read_network_tensors,
    sequential_layout,
)
from deltaprop.io.registry import (
    Extra,
    kind_of,
    kind_of_file,
    model_wrapper_of,
    registered_wrappers,
)
from deltaprop.io.strict_json import parse_json, to_json

__all__ = ["load", "save"]

_STATE_CODES = ("F32", "F64", "I64")
_EXTRA_PREFIX = "extra/"
_MODEL_OPTIONAL_KEYS = OPTIONAL_KEYS | {"extra"}


def _merged_extra(own: Extra, extra: Extra | None) -> Extra:
    """A wrapper's extra section with the caller's fields added (none may be overwritten)."""
    if extra is None:
        return own
    _check_extra(extra)
    both = (set(own[0]) & set(extra[0])) | (set(own[1]) & set(extra[1]))
    if both:
        raise ValueError(
            f"extra must not overwrite the model's own fields. Received: {sorted(both)}"
        )
    return {**own[0], **extra[0]}, {**own[1], **extra[1]}


def _check_extra(extra: Any) -> None:
    if not (isinstance(extra, tuple) and len(extra) == 2 and isinstance(extra[1], dict)):
        raise TypeError(f"extra must be a (config, arrays) pair. Received: {type(extra)}")


def _state_arrays(owner: str, arrays: dict[Any, Any]) -> dict[str, np.ndarray]:
    """Checked arrays of a state or an extra section: names, dtypes, finite values."""
    tensors = {}
    for key, arr in arrays.items():
        if not isinstance(key, str) or not key or "/" in key or key == "__metadata__":
            raise TypeError(
                f"{owner} array names must be non-empty, without '/'. Received: {key!r}"
            )
        arr = np.asarray(arr)
        if (
            arr.dtype.newbyteorder("=") not in CODES
            or CODES[arr.dtype.newbyteorder("=")] not in _STATE_CODES
        ):
            raise TypeError(
                f"{owner} array {key!r} must be float32, float64 or int64. "
                f"Received: dtype {arr.dtype}"
            )
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{owner} array {key!r} contains NaN or infinity")
        tensors[key] = arr
    return tensors


def save(model: Any, path: PathLike, *, overwrite: bool = True, extra: Extra | None = None) -> Path:
    """Save a network or an estimator to a safetensors model file, atomically.

    Parameters
    ----------
    model : Network, MLPClassifier, MLPRegressor, Pipeline or a registered class
        Estimators are saved through their registered state (classes, settings, history
        and the network's parameters); a registered wrapper (a scikit-learn ``Pipeline``,
        see :mod:`deltaprop.sklearn.pipeline`) as its model and extra section.
    path : str or path-like
        The file to write (conventionally ``*.safetensors``); its folder must exist.
    overwrite : bool, default=True
        If False, raise :class:`FileExistsError` when ``path`` exists.
    extra : (dict, dict of ndarray), optional
        An extra section stored with the model (see the module docstring), returned by
        ``load(path, return_extra=True)``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        For an object that is not savable, or arrays of an unsupported dtype.
    ValueError
        A weight NaN or infinite; ``path`` ending in ``.onnx`` (:func:`~deltaprop.export_onnx`).

    Examples
    --------
    >>> import os, tempfile
    >>> from deltaprop import Network
    >>> from deltaprop.io.models import save
    >>> path = save(Network([2, 3, 1], seed=0), os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> path.name
    'm.safetensors'
    """
    if str(named := check_path(path)).lower().endswith(".onnx"):
        raise ValueError(
            "save writes a safetensors model file, not ONNX: use deltaprop.export_onnx(model, "
            f"path) for an .onnx file, or another suffix. Received: path={str(named)!r}"
        )
    wrapper = model_wrapper_of(model)
    if wrapper is not None:
        model, own = wrapper.split(model)
        extra = _merged_extra(own, extra)
    if isinstance(model, Network):
        meta = base_meta("model", "Network", model.get_config())
        meta["layout"] = to_json(sequential_layout(model), "layout")
        tensors = network_tensors(model)
    else:
        kind = kind_of(model)
        state = kind.get_state(model)
        if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)):
            raise TypeError(
                f"{kind.name}._get_model_state() must return (config, arrays). "
                f"Received: {type(state).__name__}"
            )
        config, arrays = state
        meta = base_meta("model", kind.name, config)
        tensors = _state_arrays(kind.name, arrays)
    if extra is not None:
        _check_extra(extra)
        meta["extra"] = to_json(extra[0], "extra")
        for key, arr in _state_arrays("extra", extra[1]).items():
            tensors[_EXTRA_PREFIX + key] = arr
    return atomic_write(path, encode(tensors, meta), overwrite=overwrite)


@overload
def load(path: PathLike, *, return_extra: Literal[False] = False) -> Any: ...
@overload
def load(path: PathLike, *, return_extra: Literal[True]) -> tuple[Any, Extra | None]: ...
def load(path: PathLike, *, return_extra: bool = False) -> Any:
    """Load a model saved by :func:`save`, after checking the whole file.

    Parameters
    ----------
    path : str or path-like
    return_extra : bool, default=False
        Also return the file's extra section.

    Returns
    -------
    Network or estimator, or (model, extra)
        The class named by the file (only ``Network`` and registered classes are ever
        built), or the composite a registered wrapper builds from it and the extra section
        (a file of the ``deltaprop train`` command: a scikit-learn ``Pipeline`` that takes
        the raw table); with ``return_extra``, the parts as stored. A network gets a fresh random generator for its dropout masks; checkpoints
        keep the generator. With ``return_extra``, ``extra`` is ``(config, arrays)`` or None.

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
    with naming_file(path):
        model, extra = _load_model(path)
        if return_extra or extra is None:
            return (model, extra) if return_extra else model
        for wrapper in registered_wrappers():
            try:
                composite = wrapper.wrap(model, extra)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise ModelFileError(f"invalid extra section: {exc}") from None
            if composite is not None:
                return composite
    return model


def _split_extra(
    meta: dict[str, str], table: TensorTable
) -> tuple[dict[str, Any] | None, list[str]]:
    """The extra section's config and tensor names (checked, not read), and the other names."""
    names = [k for k in table if k.startswith(_EXTRA_PREFIX)]
    rest = [k for k in table if not k.startswith(_EXTRA_PREFIX)]
    if "extra" not in meta:
        if names:
            raise ModelFileError(f"unexpected tensors: {', '.join(sorted(names))}"[:300])
        return None, rest
    config = parse_json(meta["extra"], "metadata 'extra'")
    if not isinstance(config, dict):
        raise ModelFileError(
            f"metadata 'extra' must be a JSON object. Received: {type(config).__name__}"
        )
    bad = [k for k in names if table[k].code not in _STATE_CODES]
    if bad:
        raise ModelFileError(f"extra tensors must be F32, F64 or I64: {', '.join(bad)}"[:300])
    return config, rest


def _read_extra(config: dict[str, Any] | None, table: TensorTable, prefix: str) -> Extra | None:
    if config is None:
        return None
    names = [k for k in table if k.startswith(prefix)]
    return config, {k[len(prefix) :]: v for k, v in table.read(names).items()}


def _load_model(path: PathLike) -> tuple[Any, Extra | None]:
    meta, table = read_container(path)
    check_meta_keys(meta, "model", MODEL_KEYS, _MODEL_OPTIONAL_KEYS)
    extra_config, rest = _split_extra(meta, table)
    name = meta["class"]
    if name == "Network":
        config, others = network_section(meta, table)
        others = [k for k in others if k in rest]
        if others:
            raise ModelFileError(f"unexpected tensors: {', '.join(sorted(others))}"[:300])
        net = build_network(config, read_network_tensors(table))
        return net, _read_extra(extra_config, table, _EXTRA_PREFIX)
    kind = kind_of_file(name)
    if "layout" in meta:
        raise ModelFileError("metadata has unexpected keys: layout")
    config = parse_json(meta["config"], "metadata 'config'")
    bad = [k for k in rest if table[k].code not in _STATE_CODES]
    if bad:
        raise ModelFileError(f"{name} tensors must be F32, F64 or I64: {', '.join(bad)}"[:300])
    prefix = _EXTRA_PREFIX
    key = kind.legacy_extra_key
    if extra_config is None and key is not None and isinstance(config, dict) and key in config:
        # a file of format 0.1: the extra section inside the state's config
        extra_config, prefix = config.pop(key), f"{key}."
        if not isinstance(extra_config, dict):
            raise ModelFileError(
                f"metadata 'config' {key!r} must be a JSON object. "
                f"Received: {type(extra_config).__name__}"
            )
        rest = [k for k in rest if not k.startswith(prefix)]
    try:
        if kind.check_arrays is not None:  # before any tensor is read
            kind.check_arrays(config, table.specs(rest))
        arrays = table.read(rest)
        return kind.from_state(config, arrays), _read_extra(extra_config, table, prefix)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ModelFileError(f"invalid {name} state in the file: {exc}") from None
