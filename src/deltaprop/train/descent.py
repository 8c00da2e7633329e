"""The seeds' loop, full-batch gradient descent.

:func:`gradient_descent` is the seeds' loop, verbatim: for each iteration until
convergence, compute the prediction, compute the derivatives by backpropagation, update
``W[l] -= α dW[l]`` and ``b[l] -= α db[l]``. Because the parameters and the gradients are
two flat buffers laid out alike, the update of every layer is one step of plain
:class:`~deltaprop.optim.SGD` (``θ -= α ∇θ``, the equation's one home), and each ``dW[l]`` lands on its own ``W[l]`` by construction (seed 001's
pseudocode appends the gradients from the last layer to the first and then applies them
from the first layer on, so it updates the wrong layers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.core import Network
from deltaprop.optim import SGD
from deltaprop.train.errors import DivergenceError

__all__ = ["gradient_descent"]


def gradient_descent(
    net: Network,
    X: Any,
    Y: Any,
    learning_rate: float = 0.1,
    max_iter: int = 1000,
    tol: float = 1e-7,
    sample_weight: Any = None,
) -> list[float]:
    """Full-batch gradient descent, the seeds' loop.

    Repeats forward, backward, ``W -= α dW``, ``b -= α db`` until the cost changes by less
    than ``tol`` between two iterations or ``max_iter`` iterations are done.

    Parameters
    ----------
    net : Network
        Trained in place.
    X : array-like of shape (m, n_0)
    Y : array-like of shape (m, n_L)
    learning_rate : float, default=0.1
        ``α``.
    max_iter : int, default=1000
    tol : float, default=1e-7
    sample_weight : array-like of shape (m,), optional

    Returns
    -------
    history : list of float
        The cost before each update (``history[0]`` is the cost of the initial weights).

    Raises
    ------
    DivergenceError
        If the cost becomes NaN or infinite; the network keeps the last finite weights.

    Examples
    --------
    >>> import numpy as np
    >>> from deltaprop import Network, gradient_descent
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]); Y = np.array([0, 1, 1, 0])
    >>> net = Network([2, 4, 1], "tanh", "binary_crossentropy", seed=0)
    >>> history = gradient_descent(net, X, Y, learning_rate=1.0, max_iter=2000)
    >>> bool(((net.forward(X) > 0.5).ravel() == Y).all())
    True
    """
    sgd = SGD(learning_rate)  # checks the learning rate, naming the value received
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer. Received: max_iter={max_iter!r}")
    if not (isinstance(tol, int | float) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number. Received: tol={tol!r}")
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    w = net.check_sample_weight(sample_weight, X.shape[0])

    history: list[float] = []
    last_good = net.parameters.copy()
    for it in range(max_iter):
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
            cost = net.backward(X, Y, w, training=True)  # 1. prediction, 2. derivatives
        if not math.isfinite(cost) or not bool(net.xp.isfinite(net.grad).all()):
            net.parameters[...] = last_good
            raise DivergenceError(
                f"gradient descent diverged at iteration {it}: the cost became {cost}. "
                f"The last finite weights were kept; try a smaller learning_rate "
                f"(received learning_rate={learning_rate}).",
                loss=cost,
                learning_rate=learning_rate,
            )
        history.append(cost)
        if len(history) > 1 and abs(history[-2] - cost) < tol:
            break
        last_good[...] = net.parameters
        sgd.step(net.parameters, net.grad)  # 3. W[l] -= α dW[l], b[l] -= α db[l]
    return history
