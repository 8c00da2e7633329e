"""Names to objects, resolved once: the lookup of every kind of name in the package.

Activations, losses, initializers, optimizers and schedules are all named through here.
An identifier is a registry name or alias (``"relu"``, ``"bce"``), a config dict as
``get_config()`` returns it (``{"name": "leaky_relu", "alpha": 0.2}``), a class of the
registry's kind (built with the keyword arguments) or an instance, which is returned
unchanged. An unknown name raises a ``ValueError`` that lists the valid names, in Keras's
words, the same for every kind: ``Could not interpret activation function identifier:
'swish'. Valid names: ...``.

>>> from deltaprop.core.registry import lookup
>>> lookup("two", {"one": 1, "two": 2}, {"deux": "two"}, "number")
2
>>> lookup("three", {"one": 1, "two": 2}, {"deux": "two"}, "number")
Traceback (most recent call last):
...
ValueError: Could not interpret number identifier: 'three'. Valid names: deux, one, two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["lookup", "resolve", "unknown_identifier"]

T = TypeVar("T")
V = TypeVar("V")


def unknown_identifier(kind: str, identifier: Any, valid: Iterable[str]) -> ValueError:
    """The error for an identifier that names nothing: ``Could not interpret <kind>
    identifier: <identifier!r>. Valid names: <sorted, comma-separated>.``"""
    names = ", ".join(sorted(valid))
    return ValueError(
        f"Could not interpret {kind} identifier: {identifier!r}. Valid names: {names}."
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
