"""A network's flat buffers: their allocation (sized and checked first) and assignment.

:class:`~deltaprop.core.network.Network` keeps every parameter in one 1-D array, with each
``W[l]`` and ``b[l]`` a view into it; these functions make that array (and the gradient's)
and write into it, so that the views stay bound.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = [
    "ParameterMemoryError", "allocate_flat", "assign_flat", "check_buffer_names",
    "physical_memory",
]  # fmt: skip

Array = Any


class ParameterMemoryError(MemoryError):
    """The flat parameter and gradient buffers of a network do not fit in memory.

    Attributes
    ----------
    n_params : int
        The number of parameters the layer sizes make.
    nbytes : int
        The bytes of the two buffers (parameters and gradients).
    why : str
        Why they do not fit: beyond the physical memory, or the allocation failed.
    """

    def __init__(self, name: str, value: Any, n_params: int, nbytes: int, why: str) -> None:
        self.n_params, self.nbytes, self.why = n_params, nbytes, why
        super().__init__(
            f"{name}={value!r} makes {n_params:,} parameters: the parameter and gradient "
            f"buffers need {_gib(nbytes)} ({nbytes:,} bytes), {why}. Use smaller {name}."
        )


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def physical_memory() -> int | None:
    """The machine's physical memory in bytes (``os.sysconf``), or None where unknown."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def allocate_flat(
    n_params: int, dtype: np.dtype[Any], xp: Any, layer_sizes: list[int]
) -> tuple[Array, Array]:  # fmt: skip
    """The zeroed parameter and gradient buffers, each of shape ``(n_params,)``.

    Raises
    ------
    ParameterMemoryError
        The two buffers exceed the machine's physical memory (refused before allocating),
        or their allocation failed; the message names ``layer_sizes``, the parameter count
        and the bytes.
    """
    nbytes = 2 * n_params * dtype.itemsize
    memory = physical_memory()
    if memory is not None and nbytes > memory:
        why = f"more than this machine's {_gib(memory)} of memory"
        raise ParameterMemoryError("layer_sizes", layer_sizes, n_params, nbytes, why)
    try:
        return xp.zeros(n_params, dtype=dtype), xp.zeros(n_params, dtype=dtype)
    except MemoryError:
        why = "and their allocation failed"
        raise ParameterMemoryError("layer_sizes", layer_sizes, n_params, nbytes, why) from None


def assign_flat(target: Array, value: Any, xp: Any) -> None:
    """Copy ``value`` into the flat buffer ``target`` in place (its views stay bound).

    Raises
    ------
    ValueError
        ``value`` is not numeric, not of shape ``(n_params,)``, or not finite.
    """
    expected = f"an array of shape ({target.shape[0]},) of finite numbers"
    try:
        array = xp.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameters must be {expected}. Received: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"parameters must be {expected}. Received: parameters of dtype {array.dtype}"
        )
    if array.shape != target.shape:
        raise ValueError(
            f"parameters must be {expected} (the network's n_params). "
            f"Received: parameters of shape {array.shape} (size {array.size})"
        )
    finite = xp.isfinite(array)
    if not bool(finite.all()):
        i = int(xp.argmin(finite))
        raise ValueError(
            f"parameters must be {expected}. Received: parameters[{i}]={array[i].item()!r}"
        )
    target[...] = array


def check_buffer_names(values: Any, valid: list[str]) -> None:
    """Raise ``ValueError`` naming a key of ``values`` that is not among ``valid``, or a
    missing one, with the valid names."""
    listed = ", ".join(repr(k) for k in valid) or "none (no batch normalization)"
    for key in values:
        if key not in valid:
            raise ValueError(
                f"set_buffers got an unknown buffer {key!r}; the network's buffers are "
                f"{listed}. Received: keys {sorted(values)!r}"
            )
    for key in valid:
        if key not in values:
            raise ValueError(
                f"set_buffers is missing the buffer {key!r}; the network's buffers are "
                f"{listed}. Received: keys {sorted(values)!r}"
            )
