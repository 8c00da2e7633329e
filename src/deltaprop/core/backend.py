"""The array-module seam.

Every numeric module reaches NumPy through :func:`get_backend` rather than importing it
for computation, so that an array module with NumPy's interface (CuPy on a GPU) can be put
in later without touching the equations. A :class:`Backend` bundles the array namespace
``xp`` with the few functions that NumPy itself lacks (``erfc``).

>>> from deltaprop.core.backend import get_backend
>>> be = get_backend("numpy")
>>> float(be.xp.tanh(0.0)), float(be.erfc(be.xp.asarray(0.0)))
(0.0, 1.0)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from deltaprop.core.registry import unknown_identifier

__all__ = ["BACKENDS", "Backend", "get_backend", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


@dataclass(frozen=True)
class Backend:
    """An array module and its special functions.

    Attributes
    ----------
    name : str
        Registry name (``"numpy"`` or ``"cupy"``).
    xp : module
        The array namespace (``numpy`` or ``cupy``).
    erfc : callable
        The complementary error function ``1 - erf``, elementwise and accurate where it is
        small (``scipy.special.erfc`` for NumPy).
    expit : callable
        The logistic sigmoid, elementwise and overflow-free (``scipy.special.expit``).
    """

    name: str
    xp: ModuleType
    erfc: Callable[[Any], Any]
    expit: Callable[[Any], Any]

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickle by name: a module cannot be pickled, and the backend is a registry entry."""
        return (get_backend, (self.name,))

    def to_numpy(self, a: Any) -> np.ndarray:
        """Return ``a`` as a NumPy array on the host (no copy for NumPy input)."""
        if self.name == "numpy":
            return np.asarray(a)
        return self.xp.asnumpy(a)


def _numpy_backend() -> Backend:
    from scipy.special import erfc, expit

    return Backend("numpy", np, erfc, expit)


def _cupy_backend() -> Backend:  # pragma: no cover - needs a GPU
    import cupy
    from cupyx.scipy.special import erfc, expit

    return Backend("cupy", cupy, erfc, expit)


BACKENDS: dict[str, Callable[[], Backend]] = {"numpy": _numpy_backend, "cupy": _cupy_backend}
_CACHE: dict[str, Backend] = {}


def get_backend(name: str | Backend = "numpy") -> Backend:
    """Resolve a backend by name.

    Parameters
    ----------
    name : str or Backend
        ``"numpy"`` (default) or ``"cupy"``; a :class:`Backend` is returned unchanged.

    Raises
    ------
    ValueError
        If the name is not a known backend; the message lists the valid names.
    """
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise unknown_identifier("backend", name, BACKENDS)
    if name not in _CACHE:
        _CACHE[name] = BACKENDS[name]()
    return _CACHE[name]
