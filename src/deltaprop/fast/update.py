"""The optimizer step of the compiled loop (:func:`deltaprop.fast.epoch.run_steps`) on a
slice of the flat buffers: SGD (momentum, Nesterov, weight decay), RMSprop and Adam/AdamW
(AMSGrad), each its class's ``kernel_update`` beside its NumPy ``_update``, each in its
``style``: the same operations as the Python loop's optimizers, every first-order optimizer
of :mod:`deltaprop.optim`."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core.jit import jit
from deltaprop.optim import SGD, RMSprop
from deltaprop.optim.adam import Adam, adam_corrections

__all__ = ["OPT_ADAM", "OPT_RMSPROP", "OPT_SGD", "optimizer_step", "scale"]

OPT_SGD, OPT_ADAM, OPT_RMSPROP = 0, 1, 2
"""Codes of the optimizer step (:func:`optimizer_step`): SGD, Adam/AdamW, RMSprop."""


_jit = jit(nogil=True, error_model="numpy")
_sgd = _jit(SGD.kernel_update)
_rmsprop = _jit(RMSprop.kernel_update)
_adam = _jit(Adam.kernel_update)
_adam_corrections = _jit(adam_corrections)


@_jit
def scale(a: Any, s: Any) -> None:  # pragma: no cover - compiled
    """``a ← s a`` in place (gradient clipping)."""
    for i in range(a.size):
        a[i] *= s


@_jit
def optimizer_step(  # pragma: no cover - compiled
    params: Any, grad: Any, opt_code: int, t: int, lr: float, h: Any, state0: Any,
    state1: Any, state2: Any,
) -> None:  # fmt: skip
    """One step of SGD, RMSprop or Adam/AdamW (each class's ``kernel_update``, with ``h``
    from its ``kernel_hyperparameters``) on a slice of the flat buffers; elementwise, so
    slices may be updated one by one."""
    if opt_code == OPT_ADAM:
        b1, b2, eps, wd, decoupled, amsgrad = h[0], h[1], h[2], h[3], h[4] != 0, h[5] != 0
        weight = 1.0 - b1
        lerp_small = abs(weight) < 0.5
        root, step_size = _adam_corrections(lr, b1, b2, t, h[6] != 0)
        _adam(
            params, grad, state0, state1, state2, amsgrad,
            1.0 - lr * wd if (decoupled and wd != 0.0) else 1.0, wd,
            weight if lerp_small else 1.0 - weight, lerp_small, b2, 1.0 - b2,
            root, eps, step_size, wd != 0.0 and not decoupled, np.finfo(params.dtype).tiny,
        )  # fmt: skip
    elif opt_code == OPT_RMSPROP:
        _rmsprop(params, grad, state0, state1, state2, lr, h)
    else:
        _sgd(params, grad, state0, t, lr, h)
