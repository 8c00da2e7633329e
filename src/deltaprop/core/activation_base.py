"""The base class of the activations, and what each one declares about itself.

:class:`Activation` is ``A = g(Z)`` with ``g'(Z)`` beside it, and the slots every
activation fills in: its registry ``name`` and ``aliases``, its compiled form
(``compiled``, its own code, distinct among the classes), its PyTorch module, its ONNX nodes (through
a graph as :class:`OnnxGraph` describes it), ``relu_like`` and ``hidden``. The activations
themselves are in :mod:`deltaprop.core.activations`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from deltaprop.core.backend import Backend, get_backend

__all__ = [
    "Activation",
    "OnnxGraph",
]

Array = Any  # an ndarray of the backend's array module


class OnnxGraph(Protocol):
    """What :meth:`Activation.onnx_nodes` needs of a graph under construction (duck-typed:
    the ONNX exporter's graph has these members)."""

    dtype: np.dtype[Any]
    """The graph's float dtype (float32 or float64)."""
    double: bool
    """Whether the graph computes in float64."""
    opset: int
    """The ONNX opset version."""

    def const(self, hint: str, value: Any, dtype: Any = None) -> str:
        """A new constant (an initializer) of the graph's dtype; returns its name."""
        ...

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        """A new node; returns the name of its output."""
        ...


class Activation:
    """Base class: ``A = g(Z)`` and ``g'(Z)``.

    Parameters
    ----------
    backend : str or Backend, default="numpy"
        The array module the activation computes with.

    Attributes
    ----------
    name : str
        Registry name (``"relu"``).
    aliases : tuple of str
        Other names it is known by (``("logistic",)`` for the sigmoid).
    compiled : int or None
        Code of its compiled form in the compiled training loop (the branch of
        :func:`deltaprop.fast.activate.activate` and ``activation_backward`` that takes the
        class's code from here; distinct among the classes, a test checks), or ``None``
        where it has none (see :meth:`compiled_form`): the loop compiles the class's
        :meth:`kernel_forward` and :meth:`kernel_backward` (numba), which restate
        :meth:`forward` and :meth:`backward` one entry at a time.
    torch_module : str
        The ``torch.nn`` class of the same map (``"LeakyReLU"``); its constructor
        arguments are :meth:`torch_kwargs`.
    relu_like : bool
        Whether He initialization suits it (``"auto"`` init picks ``he_normal``).
    kinked : bool
        Whether its derivative jumps at ``z = 0`` (ReLU's kink): a finite difference whose
        steps cross it is wrong, and :func:`deltaprop.core.gradcheck.gradcheck` leaves
        such entries out.
    hidden : bool
        Whether it may be a hidden layer's activation (not softmax, not exp).
    probabilities : bool
        Whether its values lie in ``(0, 1)``, so that a cross-entropy of them is a cost
        (the sigmoid, the softmax; a user's own class may say so too).

    Notes
    -----
    Subclasses implement :meth:`forward` and :meth:`derivative`; :meth:`backward` is the
    chain rule ``dZ = dA ⊙ g'(Z)`` for every elementwise activation. A class with a
    compiled form writes its equations a second time, beside the NumPy ones, as the plain
    loops :meth:`kernel_forward` and :meth:`kernel_backward` (numba compiles them; they run
    in Python too, slowly, which is how ``tests/core/test_kernels.py`` also reads them).
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    compiled: ClassVar[int | None] = None
    torch_module: ClassVar[str] = ""
    relu_like: ClassVar[bool] = False
    kinked: ClassVar[bool] = False
    hidden: ClassVar[bool] = True
    probabilities: ClassVar[bool] = False

    def __init__(self, backend: str | Backend = "numpy") -> None:
        self.be = get_backend(backend)

    @property
    def xp(self) -> Any:
        """The array module (``numpy``): read through the backend, so objects pickle."""
        return self.be.xp

    def forward(self, Z: Array, out: Array | None = None) -> Array:
        """``A = g(Z)``; ``Z`` has shape ``(m, n)``, so does the result (``out`` if used)."""
        raise NotImplementedError

    def derivative(self, Z: Array, A: Array) -> Array:
        """``g'(Z)``, elementwise, from the cached pre-activation ``Z`` and output ``A``."""
        raise NotImplementedError

    def backward(self, dA: Array, Z: Array, A: Array, out: Array | None = None) -> Array:
        """``dZ = dA ⊙ g'(Z)``: the gradient with respect to ``Z`` of shape ``(m, n)``."""
        return self.xp.multiply(dA, self.derivative(Z, A), out=out)

    def get_config(self) -> dict[str, Any]:
        """Name and hyper-parameters, enough to rebuild the activation."""
        return {"name": self.name}

    @classmethod
    def compiled_form(cls) -> int | None:
        """The code of this class's compiled form, or ``None``.

        Only a class that declares ``compiled`` itself has one: a subclass that does not
        (its ``forward`` may differ from its parent's) runs the Python loop.
        """
        code = cls.__dict__.get("compiled")
        return code if isinstance(code, int) else None

    def compiled_parameter(self, dtype: Any) -> float:
        """The one number the compiled form takes beside ``Z`` (``alpha``, the ``exp``
        cap for ``dtype``); 0 where it takes none."""
        return 0.0

    @staticmethod
    def kernel_forward(z: Any, a: Any, p: float) -> None:  # pragma: no cover - compiled
        """``a[i] = g(z[i])`` on 1-D arrays (``a`` may be ``z``), ``p`` from
        :meth:`compiled_parameter`: :meth:`forward` entry by entry, in the same operations."""
        raise NotImplementedError

    @staticmethod
    def kernel_backward(d: Any, z: Any, a: Any, p: float) -> None:  # pragma: no cover
        """``d[i] ← d[i] g'(z[i])`` in place on 1-D arrays (``a = g(z)``): :meth:`backward`
        entry by entry, in the same operations."""
        raise NotImplementedError

    def torch_kwargs(self) -> dict[str, Any]:
        """The constructor arguments of :attr:`torch_module` for this instance."""
        return {}

    def onnx_nodes(self, graph: OnnxGraph, z: str) -> str:
        """Add the ONNX nodes of ``A = g(Z)`` to ``graph``; returns the name of ``A``.

        Parameters
        ----------
        graph : object with ``dtype``, ``double``, ``opset``, ``const`` and ``op``
            The graph under construction (see :class:`OnnxGraph`).
        z : str
            The name of ``Z``, of shape ``(m, n)``.

        Raises
        ------
        ValueError
            For an activation that has no ONNX form.
        """
        raise ValueError(
            f"cannot export the activation {self.name!r} to ONNX. Received: activation={self!r}"
        )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({params})"
