"""Names to objects, resolved once: the lookup shared by activations, losses and schedules.

An identifier is a registry name or alias (``"relu"``, ``"bce"``), a config dict as
``get_config()`` returns it (``{"name": "leaky_relu", "alpha": 0.2}``), or an instance,
which is returned unchanged. An unknown name raises a ``ValueError`` that lists the valid
names, in Keras's words: ``Could not interpret activation function identifier: 'swish'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["resolve"]

T = TypeVar("T")


def resolve(
    identifier: Any,
    registry: Mapping[str, type[T]],
    aliases: Mapping[str, str],
    base: type[T],
    kind: str,
    **build: Any,
) -> T:
    """Build (or pass through) the object an identifier names.

    Parameters
    ----------
    identifier : str, dict or instance of ``base``
    registry : mapping of name to class
    aliases : mapping of alternative name to registry name
    base : type
        Instances of it are returned unchanged.
    kind : str
        What is being resolved, for the error message (``"activation function"``).
    **build
        Extra keyword arguments for the constructor (``backend=...``).

    Raises
    ------
    ValueError
        For an unknown name, or a config with parameters the class does not take.
    """
    if isinstance(identifier, base):
        return identifier
    config: dict[str, Any]
    if isinstance(identifier, dict):
        config = dict(identifier)
        name = config.pop("name", None)
    else:
        name, config = identifier, {}
    key = aliases.get(name, name) if isinstance(name, str) else name
    if not isinstance(key, str) or key not in registry:
        valid = ", ".join(sorted([*registry, *aliases]))
        raise ValueError(
            f"Could not interpret {kind} identifier: {identifier!r}. Valid names: {valid}."
        )
    try:
        return registry[key](**build, **config)
    except TypeError as exc:
        raise ValueError(f"Could not build {kind} {key!r} from {identifier!r}: {exc}") from None
