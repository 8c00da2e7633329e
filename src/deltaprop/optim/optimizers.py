"""The optimizers by name: the registry :data:`OPTIMIZERS` and :func:`get_optimizer`.

The classes live in :mod:`deltaprop.optim.base` (the bookkeeping),
:mod:`deltaprop.optim.first_order`, :mod:`deltaprop.optim.adam` and
:mod:`deltaprop.optim.lbfgs`; this module re-exports them.

Every parameter of a network lives in one contiguous 1-D array ``params`` (float32 or
float64) and its gradient in one array ``grads`` of the same shape and dtype. An
:class:`Optimizer` updates ``params`` in place, in a single pass over the flat buffer, with
state arrays (momentum, moment estimates) aligned with it element for element. The update
rules reproduce :mod:`torch.optim` (``SGD``, ``RMSprop``, ``Adam``, ``AdamW``) formula for
formula and, as far as NumPy allows, operation for operation, so that float64 trajectories
agree with PyTorch's to round-off (PyTorch's CPU kernels fuse some multiply-adds, which
NumPy cannot; the difference after 20 steps is about 1e-13 relative). SGD (hence Momentum
and Nesterov), Adam and AdamW also take the form of Keras and scikit-learn
(``style="keras"``), which the scikit-learn estimators use.

The base class does the bookkeeping (argument checks, lazy allocation of the state, the
step counter ``t``, checkpoints); each subclass writes only its ``_update``. The learning
rate is a public attribute that a schedule may change between steps.

L-BFGS is not a step optimizer: it drives the whole minimisation through
:func:`scipy.optimize.minimize`, as scikit-learn's ``MLPClassifier(solver="lbfgs")`` does.
:func:`minimize_lbfgs` is the function; :class:`LBFGS` holds its settings so that the
registry can name it (``get_optimizer("lbfgs")``), and a trainer tells the two kinds apart
with ``isinstance(opt, LBFGS)``.

>>> import numpy as np
>>> from deltaprop.optim.optimizers import get_optimizer
>>> opt = get_optimizer("adam", learning_rate=0.1)
>>> params = np.array([1.0, -2.0])
>>> for _ in range(3):
...     opt.step(params, 2.0 * params)  # gradient of sum(params**2)
>>> opt.t, params.round(2).tolist()  # Adam moves each entry by about lr per step
(3, [0.7, -1.7])
"""

from __future__ import annotations

from typing import Any, Literal, overload

from deltaprop.core.registry import lookup
from deltaprop.optim.adam import Adam, AdamW
from deltaprop.optim.base import Optimizer, StateDict, check_learning_rate
from deltaprop.optim.first_order import SGD, Momentum, Nesterov, RMSprop
from deltaprop.optim.lbfgs import LBFGS, minimize_lbfgs

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "StateDict",
    "check_learning_rate",
    "get_optimizer",
    "minimize_lbfgs",
]


# ----------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------
OPTIMIZERS: dict[str, type[Optimizer] | type[LBFGS]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, RMSprop, Adam, AdamW, LBFGS)
}


@overload
def get_optimizer(
    name_or_instance: Literal["lbfgs"] | LBFGS | type[LBFGS], **kwargs: Any
) -> LBFGS: ...
@overload
def get_optimizer(name_or_instance: Optimizer | type[Optimizer], **kwargs: Any) -> Optimizer: ...
@overload
def get_optimizer(name_or_instance: str, **kwargs: Any) -> Optimizer | LBFGS: ...
def get_optimizer(name_or_instance: Any, **kwargs: Any) -> Optimizer | LBFGS:
    """Return an optimizer from a registry name, a class, or an instance.

    Parameters
    ----------
    name_or_instance : str, Optimizer or LBFGS instance, or one of their classes
        A name in :data:`OPTIMIZERS` (case-insensitive), an instance (returned unchanged)
        or a class (instantiated with ``kwargs``).
    **kwargs
        Constructor arguments (only with a name or a class).

    Returns
    -------
    Optimizer or LBFGS

    Raises
    ------
    ValueError
        For an unknown identifier (the message lists the valid names), or keyword
        arguments given with an instance.

    Examples
    --------
    >>> get_optimizer("nesterov", learning_rate=0.1)
    Nesterov(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.0, style='torch')
    >>> get_optimizer("lbfgs").max_fun
    15000
    """
    if isinstance(name_or_instance, Optimizer | LBFGS):
        if kwargs:
            raise ValueError(
                "keyword arguments cannot be applied to an optimizer instance. Received: "
                f"{sorted(kwargs)}"
            )
        return name_or_instance
    if isinstance(name_or_instance, type) and issubclass(name_or_instance, Optimizer | LBFGS):
        return name_or_instance(**kwargs)
    return lookup(name_or_instance, OPTIMIZERS, {}, "optimizer", fold_case=True)(**kwargs)
