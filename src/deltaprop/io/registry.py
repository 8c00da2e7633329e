"""The registry of model classes that :func:`deltaprop.io.save` writes and :func:`deltaprop.io.load` builds.

A class is registered with :func:`register_model_class` (its own ``_get_model_state`` and
``_from_model_state``) or :func:`register_model_kind` (any two functions); a composite that
is saved as a registered model plus an extra section, with :func:`register_model_wrapper`.
:func:`load` only ever builds ``Network`` and registered classes. A file naming a class not
registered yet imports the module that the ``deltaprop.models`` entry point of that name
gives (:data:`MODEL_ENTRY_POINTS`; ``pyproject.toml`` declares the estimators'), and that
module registers it: so ``deltaprop.io.load`` builds an ``MLPClassifier`` in a process that
has not imported :mod:`deltaprop.sklearn`, and another package can make its classes
loadable the same way.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from deltaprop.io.errors import ModelFileError

__all__ = [
    "MODEL_ENTRY_POINTS",
    "Extra",
    "ModelKind",
    "ModelWrapper",
    "kind_of",
    "kind_of_file",
    "model_wrapper_of",
    "register_model_class",
    "register_model_kind",
    "register_model_wrapper",
    "registered_wrappers",
]

Extra = tuple[dict[str, Any], dict[str, np.ndarray]]
"""A file's extra section: a JSON-able dict and a dict of named arrays."""

StateGetter = Callable[[Any], tuple[dict[str, Any], dict[str, np.ndarray]]]
StateBuilder = Callable[[dict[str, Any], dict[str, np.ndarray]], Any]
TableCheck = Callable[[Any, dict[str, tuple[tuple[int, ...], str]]], None]


@dataclass(frozen=True)
class ModelKind:
    """A loadable class: its name in files and the two functions between it and its state.

    Attributes
    ----------
    name : str
        The metadata ``class`` of its files.
    cls : type
    get_state : callable
        ``get_state(obj) -> (config, arrays)``: a JSON-able dict and float32, float64 or
        int64 arrays (names without ``/``).
    from_state : callable
        ``from_state(config, arrays) -> obj``; raises ``ValueError`` (or ``TypeError``,
        ``KeyError``, ``IndexError``) for an inconsistent state.
    legacy_extra_key : str or None
        Where files written before the extra section kept it in ``config`` (see
        :mod:`deltaprop.io.models`).
    check_arrays : callable or None
        ``check_arrays(config, specs)``, with ``specs`` the file's state tensors as
        ``{name: (shape, dtype code)}``: called BEFORE any tensor is read or anything built,
        so that a file declaring a huge architecture is refused for the price of its
        header; raises ``ValueError`` (or ``TypeError``, ``KeyError``) for a mismatch.
    """

    name: str
    cls: type
    get_state: StateGetter
    from_state: StateBuilder
    legacy_extra_key: str | None = None
    check_arrays: TableCheck | None = None


_KINDS: dict[str, ModelKind] = {}


def register_model_kind(
    name: str,
    cls: type,
    get_state: StateGetter,
    from_state: StateBuilder,
    *,
    legacy_extra_key: str | None = None,
    check_arrays: TableCheck | None = None,
) -> ModelKind:
    """Make instances of ``cls`` savable by :func:`save` and loadable by :func:`load`.

    Parameters
    ----------
    name : str
        Name stored in files (``"Network"`` is reserved).
    cls : type
    get_state, from_state : callable
        As the attributes of :class:`ModelKind`.
    legacy_extra_key : str, optional
        The ``config`` key under which this class's files of format 0.1 held the extra section.
    check_arrays : callable, optional
        As the attribute of :class:`ModelKind`.

    Returns
    -------
    ModelKind
    """
    if name == "Network":
        raise ValueError(f"the class name {name!r} is reserved. Received: name={name!r}")
    if name in _KINDS and _KINDS[name].cls is not cls:
        raise ValueError(f"another class is registered as {name!r}. Received: cls={cls!r}")
    kind = ModelKind(name, cls, get_state, from_state, legacy_extra_key, check_arrays)
    _KINDS[name] = kind
    return kind


@dataclass(frozen=True)
class ModelWrapper:
    """A composite class saved as a registered model plus an extra section.

    Attributes
    ----------
    cls : type
    split : callable
        ``split(obj) -> (model, extra)``: the inner model (a ``Network`` or an instance of a
        registered class) and the extra section; raises ``TypeError`` for an instance it
        cannot store (with a message saying what it accepts).
    wrap : callable
        ``wrap(model, extra) -> obj or None``: the composite, or None when the section is
        not one of its own; raises ``ValueError`` (or ``TypeError``, ``KeyError``) for an
        inconsistent section.
    """

    cls: type
    split: Callable[[Any], tuple[Any, Extra]]
    wrap: Callable[[Any, Extra], Any]


_WRAPPERS: dict[type, ModelWrapper] = {}


def register_model_wrapper(
    cls: type, split: Callable[[Any], tuple[Any, Extra]], wrap: Callable[[Any, Extra], Any]
) -> ModelWrapper:
    """Make instances of ``cls`` savable as a model plus an extra section (the wrappers of
    :mod:`deltaprop.io.models`).

    Parameters
    ----------
    cls : type
    split, wrap : callable
        As the attributes of :class:`ModelWrapper`.

    Returns
    -------
    ModelWrapper
    """
    wrapper = ModelWrapper(cls, split, wrap)
    _WRAPPERS[cls] = wrapper
    return wrapper


def registered_wrappers() -> Iterator[ModelWrapper]:
    """The registered wrappers, in the order of registration."""
    return iter(tuple(_WRAPPERS.values()))


def model_wrapper_of(model: Any) -> ModelWrapper | None:
    """The wrapper registered for ``type(model)`` (:func:`register_model_wrapper`), or None:
    its ``split`` is the one check of such a composite (``save`` and the ONNX export use it)."""
    return _WRAPPERS.get(type(model))


def register_model_class(cls: type, name: str | None = None) -> type:
    """Make a class savable and loadable by :func:`save` and :func:`load`.

    The class implements ``_get_model_state(self) -> (config, arrays)``, with ``config``
    a JSON-able dict and ``arrays`` a dict of float32, float64 or int64 NumPy arrays (names
    without ``/``), and the classmethod ``_from_model_state(config, arrays)``, which
    rebuilds the object and raises ``ValueError`` for inconsistent input. Files name the
    class; :func:`load` only ever instantiates registered classes. ``MLPClassifier`` and
    ``MLPRegressor`` are registered by :mod:`deltaprop.sklearn`. Usable as a decorator. A
    package whose files should load in a process that has not imported it declares an
    entry point ``<name> = "<its module>"`` in the group :data:`MODEL_ENTRY_POINTS`.

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
    register_model_kind(name, cls, operator.methodcaller("_get_model_state"), cls._from_model_state)  # type: ignore[attr-defined]
    return cls


MODEL_ENTRY_POINTS = "deltaprop.models"
"""The entry-point group naming, for each class name in files, the module that registers it."""


def kind_of_file(name: str) -> ModelKind:
    """The kind a file's ``class`` names, its entry point's module imported if need be."""
    if name not in _KINDS:
        for entry in metadata.entry_points(group=MODEL_ENTRY_POINTS, name=name):
            try:
                entry.load()
            except Exception as exc:  # another package's module: name it
                raise ModelFileError(
                    f"class {name!r} is registered by {entry.value!r}, which failed to import: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
    if name in _KINDS:
        return _KINDS[name]
    declared = {entry.name for entry in metadata.entry_points(group=MODEL_ENTRY_POINTS)}
    known = ", ".join(["Network", *sorted(set(_KINDS) | declared)])
    raise ModelFileError(f"unknown model class {name!r}; loadable classes: {known}")


def kind_of(model: Any) -> ModelKind:
    """The kind of a model to save (its class registered, or ``TypeError``)."""
    kind = _KINDS.get(type(model).__name__)
    if kind is not None and kind.cls is type(model):
        return kind
    for kind in _KINDS.values():
        if kind.cls is type(model):
            return kind
    raise TypeError(
        "save expects a Network, an MLPClassifier or MLPRegressor, a scikit-learn Pipeline "
        "of a TablePreprocessor and one of them, or an instance of a class registered with "
        f"register_model_class. Received: {type(model).__qualname__}"
    )
