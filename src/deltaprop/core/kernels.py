"""The numba kernels behind :mod:`deltaprop.core.fused` (imported only through it).

Each kernel fuses the elementwise work of one equation of the engine into one pass with no
temporaries, repeating the NumPy path's floating-point operations in the same order and
precision (scalars arrive already cast to the arrays' dtype, as NumPy casts Python floats):
the bias add and the ReLU derivative are bit for bit NumPy's; ``exp`` and ``log`` come from
another math library and agree to a few units in the last place. (The optimizers' kernels
live with their classes, e.g. :meth:`deltaprop.optim.adam.Adam.kernel_update`.)

Importing this module also registers :mod:`deltaprop.core.vectormath`'s and
:mod:`deltaprop.core.vectormath_gelu`'s functions with numba (inlined where called, so that
the loops that call them vectorize), which the float32 kernels
of the activations call: :mod:`deltaprop.fast.activate` imports it before compiling them.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from deltaprop.core import vectormath, vectormath_gelu
from deltaprop.core.jit import jit


def _float32_only(fn: Any, inline: Literal["never", "always"] = "never") -> None:
    """Register ``fn`` (of one float32 number) with numba for float32 arguments only: a
    call with a float64 (a kernel's float32 branch typed in its float64 version, where it
    never runs: numba types both branches of ``if z.itemsize == 4``) gets the identity
    instead, so that the float64 loop does not compile the float32 code (the GELU
    functions doubled the loop's first compilation, 36 to 57 s)."""

    signature = inspect.signature(fn)  # numba asks the same of typing and implementations
    (name,) = signature.parameters
    assert name.isidentifier()
    identity = eval(f"lambda {name}: {name}")  # the argument's own name, as numba asks

    def typed(*args: Any) -> Any:
        (x,) = args
        if isinstance(x, types.Float) and x.bitwidth == 32:
            return fn
        return identity

    typed.__signature__ = identity.__signature__ = signature  # type: ignore[attr-defined]
    overload(fn, inline=inline)(typed)


register_jitable(vectormath.exp_f32)
_float32_only(vectormath.tanh32)
_float32_only(vectormath.sigmoid32)
for _fn in vectormath_gelu.JITABLE:  # inlined by numba: LLVM leaves their loops scalar
    if _fn in (vectormath_gelu.gelu_f32, vectormath_gelu.gelu_grad_f32):
        _float32_only(_fn, inline="always")
    else:
        register_jitable(inline="always")(_fn)

_jit = jit(nogil=True, error_model="numpy")


@_jit
def add_bias(Z: Any, b: Any) -> None:  # pragma: no cover - compiled
    """``Z += b`` row by row (NumPy's broadcast add takes a temporary buffer)."""
    m, n = Z.shape
    for i in range(m):
        for j in range(n):
            Z[i, j] += b[j]


@_jit
def relu_backward(dA: Any, Z: Any, out: Any) -> None:  # pragma: no cover - compiled
    """``out = dA ⊙ [Z > 0]`` (``dA`` where ``Z > 0``, else 0); 2-D C-contiguous."""
    a, z, o = dA.ravel(), Z.ravel(), out.ravel()
    zero = o.dtype.type(0)
    for i in range(o.size):
        o[i] = a[i] if z[i] > 0 else zero


@_jit
def row_max(Z: Any, i: int) -> Any:  # pragma: no cover - compiled
    """``max_j Z[i, j]`` (the shift that keeps ``e^z`` finite in a softmax)."""
    mx = Z[i, 0]
    for j in range(1, Z.shape[1]):
        if Z[i, j] > mx:
            mx = Z[i, j]
    return mx


@_jit
def softmax_xent(Y: Any, Z: Any, out: Any) -> None:  # pragma: no cover - compiled
    """Per-row ``Σ_k y_k (logsumexp(z) - z_k)``, as ``value_from_logits``."""
    m, n = Z.shape
    for i in range(m):
        mx = row_max(Z, i)
        s = out.dtype.type(0)
        for j in range(n):
            s += np.exp(Z[i, j] - mx)
        log_norm = np.log(s)
        acc = out.dtype.type(0)
        for j in range(n):
            acc += Y[i, j] * (log_norm - (Z[i, j] - mx))
        out[i] = acc


# reassoc: the sums may be reordered (vectorized); every other operation stays IEEE-exact
_jit_sum = jit(nogil=True, error_model="numpy", fastmath={"reassoc"})


@_jit_sum
def sum_squares(a: Any) -> float:  # pragma: no cover - compiled
    """``Σ a_i²`` of a 1-D array, in float64."""
    acc = 0.0
    for i in range(a.size):
        v = np.float64(a[i])
        acc += v * v
    return acc


@_jit_sum
def nonfinite_check(a: Any) -> Any:  # pragma: no cover - compiled
    """``Σ (a_i - a_i)``: 0 where every entry is finite, NaN otherwise."""
    check = a.dtype.type(0)
    for i in range(a.size):
        check += a[i] - a[i]  # 0, or NaN for an infinity or a NaN
    return check


@_jit_sum
def grad_stats(grad: Any, starts: Any, stops: Any, norms: Any) -> bool:  # pragma: no cover
    """``norms[l] += ‖grad[starts[l]:stops[l]]‖₂`` (in float64); True if grad is all finite."""
    for l in range(starts.size):
        norms[l] += np.sqrt(sum_squares(grad[starts[l] : stops[l]]))
    return nonfinite_check(grad) == 0
