"""The activations in the compiled loop: each class's own kernels
(:meth:`deltaprop.core.activation_base.Activation.kernel_forward` and
``kernel_backward``, written beside its NumPy form), compiled here and chosen by the
class's ``compiled`` code, so that one compiled loop serves every network.

Their cache is stamped with the digest of the kernels' modules
(:func:`deltaprop.core.jit.jit`): an edit to an activation's kernels or to the float32
functions they call (:mod:`deltaprop.core.vectormath`) compiles them afresh.

GELU is compiled apart (its kernels were about a third of a float32 loop's first
compilation; docs/benchmarks.md has the measurements): the codes of a network with a GELU
layer have the dtype :data:`GELU_CODES` (:func:`activation_codes`), those of every other
network ``intp``; the type of the code chooses, before anything is compiled, whether the
GELU branch calls the kernels (:func:`_gelu_forward`), so that a network without GELU never
compiles them and one with GELU gets its own specialization of the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import from_dtype
from numba.extending import overload

import deltaprop.core.kernels  # noqa: F401  (registers core.vectormath with numba first)
from deltaprop.core.activations import (
    ELU,
    GELU,
    Exp,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from deltaprop.core.jit import jit

__all__ = ["activate", "activation_backward", "activation_codes"]

# each class's code (its ``compiled``), as globals that numba freezes into the branches below
COMPILED_RELU, COMPILED_TANH, COMPILED_SIGMOID = ReLU.compiled, Tanh.compiled, Sigmoid.compiled
COMPILED_LEAKY_RELU, COMPILED_ELU, COMPILED_GELU = LeakyReLU.compiled, ELU.compiled, GELU.compiled
COMPILED_SOFTPLUS, COMPILED_EXP, COMPILED_SOFTMAX = (
    Softplus.compiled,
    Exp.compiled,
    Softmax.compiled,
)

_jit = jit(nogil=True, error_model="numpy")

_identity_f, _identity_b = _jit(Identity.kernel_forward), _jit(Identity.kernel_backward)
_relu_f, _relu_b = _jit(ReLU.kernel_forward), _jit(ReLU.kernel_backward)
_tanh_f, _tanh_b = _jit(Tanh.kernel_forward), _jit(Tanh.kernel_backward)
_sigmoid_f, _sigmoid_b = _jit(Sigmoid.kernel_forward), _jit(Sigmoid.kernel_backward)
_leaky_f, _leaky_b = _jit(LeakyReLU.kernel_forward), _jit(LeakyReLU.kernel_backward)
_elu_f, _elu_b = _jit(ELU.kernel_forward), _jit(ELU.kernel_backward)
_gelu_f, _gelu_b = _jit(GELU.kernel_forward), _jit(GELU.kernel_backward)
_softplus_f, _softplus_b = _jit(Softplus.kernel_forward), _jit(Softplus.kernel_backward)
_exp_f, _exp_b = _jit(Exp.kernel_forward), _jit(Exp.kernel_backward)
_softmax_f = _jit(Softmax.kernel_rows_forward)
_softmax_b = _jit(Softmax.kernel_rows_backward)

GELU_CODES = np.int32
"""The dtype of the codes of a network with a GELU layer (see the module's docstring)."""


def activation_codes(codes: Sequence[int]) -> np.ndarray:
    """The layers' activation codes as the compiled loop takes them: :data:`GELU_CODES` for
    a network with a GELU layer (the loop specialized with the GELU kernels), ``intp``
    otherwise (see the module's docstring)."""
    return np.array(codes, GELU_CODES if COMPILED_GELU in codes else np.intp)


def _with_gelu(code: Any) -> bool:
    """Whether a GELU branch typed with a code of this numba type calls the kernels."""
    return bool(code == from_dtype(np.dtype(GELU_CODES)))


def _gelu_forward(z: Any, a: Any, p: float, code: int) -> None:  # pragma: no cover
    """The GELU kernel where the code's type says that the network has GELU (numba types
    the overload below: only those calls compile the kernels)."""


def _gelu_backward(d: Any, z: Any, a: Any, p: float, code: int) -> None:  # pragma: no cover
    """The GELU derivative where the code's type says that the network has GELU."""


# numba compares the typing functions' parameters, annotations included, with their forms'
@overload(_gelu_forward)
def _gelu_forward_typed(z: Any, a: Any, p: Any, code: Any) -> Any:
    def kernel(z: Any, a: Any, p: Any, code: Any) -> Any:  # pragma: no cover - compiled
        _gelu_f(z, a, p)

    def nan(z: Any, a: Any, p: Any, code: Any) -> Any:  # pragma: no cover - compiled
        a[:] = np.nan  # a GELU code of the wrong type: the run diverges loudly, never silently

    return kernel if _with_gelu(code) else nan


@overload(_gelu_backward)
def _gelu_backward_typed(d: Any, z: Any, a: Any, p: Any, code: Any) -> Any:
    def kernel(d: Any, z: Any, a: Any, p: Any, code: Any) -> Any:  # pragma: no cover
        _gelu_b(d, z, a, p)

    def nan(d: Any, z: Any, a: Any, p: Any, code: Any) -> Any:  # pragma: no cover - compiled
        d[:] = np.nan

    return kernel if _with_gelu(code) else nan


@_jit
def activate(Z: Any, A: Any, code: int, p: float) -> None:  # pragma: no cover - compiled
    """``A = g(Z)`` for the class of code ``code`` (2-D C-contiguous; ``A`` may be ``Z``)."""
    z, a = Z.ravel(), A.ravel()
    if code == COMPILED_RELU:
        _relu_f(z, a, p)
    elif code == COMPILED_TANH:
        _tanh_f(z, a, p)
    elif code == COMPILED_SIGMOID:
        _sigmoid_f(z, a, p)
    elif code == COMPILED_LEAKY_RELU:
        _leaky_f(z, a, p)
    elif code == COMPILED_ELU:
        _elu_f(z, a, p)
    elif code == COMPILED_GELU:
        _gelu_forward(z, a, p, code)
    elif code == COMPILED_SOFTPLUS:
        _softplus_f(z, a, p)
    elif code == COMPILED_EXP:
        _exp_f(z, a, p)
    elif code == COMPILED_SOFTMAX:
        _softmax_f(Z, A)
    else:
        _identity_f(z, a, p)


@_jit
def activation_backward(dA: Any, Z: Any, A: Any, code: int, p: float) -> None:  # pragma: no cover
    """``dA ← dA ⊙ g'(Z)`` in place (the softmax: its Jacobian-vector product)."""
    d, z, a = dA.ravel(), Z.ravel(), A.ravel()
    if code == COMPILED_RELU:
        _relu_b(d, z, a, p)
    elif code == COMPILED_TANH:
        _tanh_b(d, z, a, p)
    elif code == COMPILED_SIGMOID:
        _sigmoid_b(d, z, a, p)
    elif code == COMPILED_LEAKY_RELU:
        _leaky_b(d, z, a, p)
    elif code == COMPILED_ELU:
        _elu_b(d, z, a, p)
    elif code == COMPILED_GELU:
        _gelu_backward(d, z, a, p, code)
    elif code == COMPILED_SOFTPLUS:
        _softplus_b(d, z, a, p)
    elif code == COMPILED_EXP:
        _exp_b(d, z, a, p)
    elif code == COMPILED_SOFTMAX:
        _softmax_b(dA, A)
    else:
        _identity_b(d, z, a, p)
