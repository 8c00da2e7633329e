"""Names to objects, resolved once: the lookup of every kind of name in the package.

Activations, losses, initializers, optimizers and schedules are all named through here.
An identifier is a registry name or alias (``"relu"``, ``"bce"``), a config dict as
``get_config()`` returns it (``{"name": "leaky_relu", "alpha": 0.2}``), a class of the
registry's kind (built with the keyword arguments) or an instance, which is returned
unchanged. An unknown name raises a ``ValueError`` that lists the valid names, in Keras's
words, the same for every kind, with the closest name where one is close:
``Could not interpret activation function identifier: 'rleu'; did you mean 'relu'? Valid
names: ...``.

>>> from deltaprop.core.registry import lookup
>>> lookup("two", {"one": 1, "two": 2}, {"deux": "two"}, "number")
2
>>> lookup("three", {"one": 1, "two": 2}, {"deux": "two"}, "number")
Traceback (most recent call last):
...
ValueError: Could not interpret number identifier: 'three'. Valid names: deux, one, two.
>>> lookup("tow", {"one": 1, "two": 2}, {}, "number")
Traceback (most recent call last):
...
ValueError: Could not interpret number identifier: 'tow'; did you mean 'two'? Valid names: one, two.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["closest", "did_you_mean", "lookup", "resolve", "unknown_identifier"]

T = TypeVar("T")
V = TypeVar("V")


def closest(name: Any, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (difflib's ratio of at least 0.6, case ignored),
    or None when none is close or ``name`` is no string."""
    if not isinstance(name, str):
        return None
    by_lower = {v.lower(): v for v in sorted(valid, reverse=True)}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return by_lower[close[0]] if close else None


def did_you_mean(name: Any, valid: Iterable[str]) -> str:
    """``"; did you mean 'relu'?"`` for the :func:`closest` valid name, or ``""``."""
    close = closest(name, valid)
    return f"; did you mean {close!r}?" if close is not None else ""


def unknown_identifier(kind: str, identifier: Any, valid: Iterable[str]) -> ValueError:
    """The error for an identifier that names nothing: ``Could not interpret <kind>
    identifier: <identifier!r>[; did you mean <closest>?]. Valid names: <sorted,
    comma-separated>.``"""
    names = sorted(valid)
    hint = did_you_mean(identifier, names) or "."
    return ValueError(
        f"Could not interpret {kind} identifier: {identifier!r}{hint} "
        f"Valid names: {', '.join(names)}."
    )


def lookup(
    name: Any,
    registry: Mapping[str, V],
    aliases: Mapping[str, str],
    kind: str,
    *,
    fold_case: bool = False,
    extra_names: Iterable[str] = (),
) -> V:
    """The registry entry that a name or an alias names.

    Parameters
    ----------
    name : str
    registry : mapping of name to entry (a class, a function)
    aliases : mapping of alternative name to registry name
    kind : str
        What is being looked up, for the error message (``"initializer"``).
    fold_case : bool, default=False
        Whether ``"Adam"`` names ``"adam"``.
    extra_names : iterable of str, default=()
        Names the caller handles itself before the lookup (``"auto"``), listed in the
        error as valid.

    Raises
    ------
    ValueError
        For an unknown name (:func:`unknown_identifier`).
    """
    key = name
    if isinstance(key, str):
        key = key.lower() if fold_case else key
        key = aliases.get(key, key)
    if not isinstance(key, str) or key not in registry:
        raise unknown_identifier(kind, name, [*registry, *aliases, *extra_names])
    return registry[key]


def resolve(
    identifier: Any,
    registry: Mapping[str, type[T]],
    aliases: Mapping[str, str],
    base: type[T],
    kind: str,
    *,
    fold_case: bool = False,
    **build: Any,
) -> T:
    """Build (or pass through) the object an identifier names.

    Parameters
    ----------
    identifier : str, dict, subclass of ``base`` or instance of ``base``
    registry : mapping of name to class
    aliases : mapping of alternative name to registry name
    base : type
        Instances of it are returned unchanged; its subclasses are built with ``build``.
    kind : str
        What is being resolved, for the error message (``"activation function"``).
    fold_case : bool, default=False
        Whether names are case-insensitive (see :func:`lookup`).
    **build
        Keyword arguments for the constructor (``backend=...``, hyper-parameters).

    Raises
    ------
    ValueError
        For an unknown name, or a config with parameters the class does not take.
    """
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier(**build)
    config: dict[str, Any]
    if isinstance(identifier, dict):
        config = dict(identifier)
        name = config.pop("name", None)
    else:
        name, config = identifier, {}
    try:
        cls = lookup(name, registry, aliases, kind, fold_case=fold_case)
    except ValueError:
        raise unknown_identifier(kind, identifier, [*registry, *aliases]) from None
    if not config:
        return cls(**build)
    try:
        return cls(**build, **config)
    except TypeError as exc:
        name = getattr(cls, "name", name)
        raise ValueError(f"Could not build {kind} {name!r} from {identifier!r}: {exc}") from None
