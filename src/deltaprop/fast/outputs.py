"""The losses in the compiled loop: a fused pair by its loss class's own
:meth:`~deltaprop.core.losses.Loss.kernel_from_logits` (chosen by its ``compiled`` code),
any other pair by the general chain rule with the class's
:meth:`~deltaprop.core.losses.Loss.kernel_value_gradient` (its ``kernel`` code), each
written beside the NumPy form it restates and compiled here.

Their cache is stamped with the digest of the kernels' modules
(:func:`deltaprop.core.jit.jit`): an edit to a loss's kernels compiles them afresh.
"""

from __future__ import annotations

from typing import Any

from deltaprop.core.jit import jit
from deltaprop.core.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    Poisson,
)
from deltaprop.fast.activate import activate, activation_backward

__all__ = ["fused_output", "general_output", "loss_kernel"]

# each class's codes (its ``compiled`` and ``kernel``), as globals that numba freezes into
# the branches below
COMPILED_BCE, COMPILED_CE = BinaryCrossEntropy.compiled, CategoricalCrossEntropy.compiled
KERNEL_BCE, KERNEL_CE = BinaryCrossEntropy.kernel, CategoricalCrossEntropy.kernel
KERNEL_MAE, KERNEL_HUBER, KERNEL_POISSON = MeanAbsoluteError.kernel, Huber.kernel, Poisson.kernel

_jit = jit(nogil=True, error_model="numpy")

_mse = _jit(MeanSquaredError.kernel_value_gradient)
_bce = _jit(BinaryCrossEntropy.kernel_value_gradient)
_ce = _jit(CategoricalCrossEntropy.kernel_value_gradient)
_mae = _jit(MeanAbsoluteError.kernel_value_gradient)
_huber = _jit(Huber.kernel_value_gradient)
_poisson = _jit(Poisson.kernel_value_gradient)
_mse_logits = _jit(MeanSquaredError.kernel_from_logits)
_bce_logits = _jit(BinaryCrossEntropy.kernel_from_logits)
_ce_logits = _jit(CategoricalCrossEntropy.kernel_from_logits)


@_jit
def fused_output(Z: Any, Y: Any, dZ: Any, losses: Any, code: int) -> None:  # pragma: no cover
    """A fused pair (its loss's ``compiled`` code): the losses from the logits and
    ``dZ[L] = A - Y``, by the loss class's own ``kernel_from_logits``."""
    if code == COMPILED_CE:
        _ce_logits(Z, Y, dZ, losses)
    elif code == COMPILED_BCE:
        _bce_logits(Z, Y, dZ, losses)
    else:
        _mse_logits(Z, Y, dZ, losses)


@_jit
def loss_kernel(
    Y: Any, A: Any, G: Any, losses: Any, code: int, p: float
) -> None:  # pragma: no cover
    """Per-example losses and ``G = ∂L/∂A`` for the loss of code ``code``."""
    if code == KERNEL_BCE:
        _bce(Y, A, G, losses, p)
    elif code == KERNEL_CE:
        _ce(Y, A, G, losses, p)
    elif code == KERNEL_MAE:
        _mae(Y, A, G, losses, p)
    elif code == KERNEL_HUBER:
        _huber(Y, A, G, losses, p)
    elif code == KERNEL_POISSON:
        _poisson(Y, A, G, losses, p)
    else:
        _mse(Y, A, G, losses, p)


@_jit
def general_output(  # pragma: no cover - compiled
    Z: Any, A: Any, Y: Any, dZ: Any, losses: Any, act: int, act_p: float, loss: int,
    loss_p: float,
) -> None:  # fmt: skip
    """The output of a pair that is not fused, as ``Network.output_dZ``: ``A = g(Z)``, the
    losses from ``A``, and ``dZ[L] = g'(Z) ⊙ ∂L/∂A`` (the softmax: its Jacobian-vector
    product)."""
    activate(Z, A, act, act_p)
    loss_kernel(Y, A, dZ, losses, loss, loss_p)
    activation_backward(dZ, Z, A, act, act_p)
