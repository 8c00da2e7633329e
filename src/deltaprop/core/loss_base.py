"""The base class of the losses, and the codes of their compiled forms.

:class:`Loss` is ``L(y, ŷ)`` with ``∂L/∂ŷ`` beside it, and the slots every loss fills in
(its registry ``name`` and ``aliases``, its fused activation, its compiled forms). The
losses themselves are in :mod:`deltaprop.core.losses`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from deltaprop.core.backend import Backend, get_backend

__all__ = [
    "Array",
    "Loss",
    "clip_eps",
    "clip_tiny",
]

Array = Any


class Loss:
    """Base class of a loss.

    Attributes
    ----------
    name : str
        Registry name.
    fused_activation : str or None
        The canonical output activation for which ``dZ[L] = A - Y``; ``None`` if none.
    default_activation : str
        The output activation a network gets with this loss when none is named.
    aliases : tuple of str
        Other names it is known by (the short and scikit-learn spellings).
    compiled : int or None
        Code of the compiled form of the fused pair (loss and ``dZ[L] = A - Y`` from the
        logits) in the compiled training loop (the branch of
        :func:`deltaprop.fast.outputs.fused_output`, which takes the code from here), or
        ``None`` (see :meth:`compiled_form`).
    kernel : int or None
        Code of :meth:`kernel_value_gradient`, the loss's own compiled form (``value`` and
        ``gradient`` restated row by row), which the compiled loop's general chain rule
        calls for a pair that is not fused (the branch of
        :func:`deltaprop.fast.outputs.loss_kernel`); ``None`` where it has none (see
        :meth:`kernel_form`).
    """

    name: ClassVar[str] = ""
    fused_activation: ClassVar[str | None] = None
    default_activation: ClassVar[str] = "identity"
    aliases: ClassVar[tuple[str, ...]] = ()
    compiled: ClassVar[int | None] = None
    kernel: ClassVar[int | None] = None

    @classmethod
    def compiled_form(cls) -> int | None:
        """The code of this class's compiled fused pair, or ``None``; only a class that
        declares ``compiled`` itself has one (a subclass may compute another loss)."""
        code = cls.__dict__.get("compiled")
        return code if isinstance(code, int) else None

    @classmethod
    def kernel_form(cls) -> int | None:
        """The code of this class's own :meth:`kernel_value_gradient`, or ``None`` (only a
        class that declares ``kernel`` itself has one)."""
        code = cls.__dict__.get("kernel")
        return code if isinstance(code, int) else None

    def kernel_parameter(self, dtype: Any) -> float:
        """The one number :meth:`kernel_value_gradient` takes (``delta``, the clip of
        ``A`` for ``dtype``); 0 where it takes none."""
        return 0.0

    @staticmethod
    def kernel_from_logits(Z: Any, Y: Any, dZ: Any, losses: Any) -> None:  # pragma: no cover
        """The fused pair's compiled form: ``losses`` as :meth:`value_from_logits` and
        ``dZ[L] = A - Y`` (``A`` the fused activation of ``Z``), row by row on 2-D arrays
        (only for a class with ``compiled``)."""
        raise NotImplementedError

    @staticmethod
    def kernel_value_gradient(  # pragma: no cover - compiled
        Y: Any, A: Any, G: Any, losses: Any, p: float
    ) -> None:  # fmt: skip
        """``losses[i] = L(y_i, a_i)`` (:meth:`value`) and ``G = ∂L/∂A`` (:meth:`gradient`)
        row by row on 2-D arrays of shape ``(m, n)``, in the same operations."""
        raise NotImplementedError

    def __init__(self, backend: str | Backend = "numpy") -> None:
        self.be = get_backend(backend)

    @property
    def xp(self) -> Any:
        """The array module (``numpy``): read through the backend, so objects pickle."""
        return self.be.xp

    def value(self, Y: Array, A: Array) -> Array:
        """Per-example loss from the outputs ``A`` (shape ``(m, n)``); returns shape ``(m,)``."""
        raise NotImplementedError

    def value_from_logits(self, Y: Array, Z: Array, out: Array | None = None) -> Array:
        """Per-example loss from the pre-activations ``Z`` of the fused activation.

        Only meaningful when the output activation is :attr:`fused_activation`. ``out``, of
        shape ``(m,)``, may receive the result (an implementation may ignore it).
        """
        raise NotImplementedError

    def gradient(self, Y: Array, A: Array) -> Array:
        """``∂L_i/∂A_i`` for each example, shape ``(m, n)`` (not divided by ``m``)."""
        raise NotImplementedError

    def check_target(self, Y: Array) -> None:
        """Raise ``ValueError`` if ``Y`` holds values outside the loss's domain."""

    def get_config(self) -> dict[str, Any]:
        """Name and hyper-parameters, enough to rebuild the loss."""
        return {"name": self.name}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({params})"


def clip_tiny(A: Array) -> float:
    """The smallest normal number of ``A``'s dtype (where ``A`` is clipped above 0)."""
    return float(np.finfo(A.dtype).tiny)


def clip_eps(A: Array) -> float:
    """The machine epsilon of ``A``'s dtype (where ``A`` is clipped inside (0, 1))."""
    return float(np.finfo(A.dtype).eps)
