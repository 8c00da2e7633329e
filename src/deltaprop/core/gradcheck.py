"""Gradient checking: backpropagation against central finite differences.

For every scalar parameter ``θ`` the numerical derivative of the cost is the fourth-order
central difference::

    ∂J/∂θ ≈ [-J(θ+2h) + 8 J(θ+h) - 8 J(θ-h) + J(θ-2h)] / (12 h)

whose truncation error is ``O(h⁴)``, so ``h = 1e-4`` in float64 leaves an absolute error
near ``1e-12``. The relative error of an entry is ``|a - n| / max(|a|, |n|, floor)``; the
worst over each parameter array is reported. The step and the floor follow the network's
dtype (:data:`STEPS`): float32 rounds the cost at about ``1e-7``, so its step is larger
(``1e-2``: a network then agrees to about ``1e-3``). Where the steps move a hidden unit of a
kinked activation (ReLU, leaky ReLU) across ``z = 0``, the cost has no derivative there for
the differences to approximate: the entry is measured again with steps 10 and 100 times
smaller, and left out of the errors (counted in :attr:`GradcheckResult.kinks`) if those
cross it too.

>>> import numpy as np
>>> from deltaprop import Network, gradcheck
>>> rng = np.random.default_rng(0)
>>> net = Network([3, 4, 2], ["tanh", "softmax"], "categorical_crossentropy", seed=0)
>>> X = rng.normal(size=(5, 3)); Y = np.eye(2)[rng.integers(0, 2, 5)]
>>> gradcheck(net, X, Y).max_relative_error < 1e-7
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from deltaprop.core.network import Network

__all__ = ["STEPS", "GradcheckResult", "gradcheck"]

STEPS: dict[str, float] = {"float64": 1e-4, "float32": 1e-2}
"""The finite-difference step ``h`` and the relative error's ``floor`` of each dtype,
where they are not given: about the fourth root of the dtype's machine epsilon."""


@dataclass
class GradcheckResult:
    """Per-array agreement of backpropagation with finite differences.

    Attributes
    ----------
    relative_errors : dict of str to float
        Worst relative error of each parameter array (``"W[1]"``, ``"b[1]"``, ...).
    absolute_errors : dict of str to float
        Worst absolute error of each parameter array.
    analytic, numeric : ndarray of shape (n_params,)
        The flat gradients from backpropagation and from finite differences.
    kinks : dict of str to int
        Per array, the entries left out of the errors: their steps moved a hidden unit of a
        kinked activation (ReLU, leaky ReLU) across ``z = 0``, where the cost has no
        derivative for a finite difference to approximate (evaluation mode only).
    """

    relative_errors: dict[str, float] = field(default_factory=dict)
    absolute_errors: dict[str, float] = field(default_factory=dict)
    analytic: np.ndarray = field(default_factory=lambda: np.empty(0))
    numeric: np.ndarray = field(default_factory=lambda: np.empty(0))
    kinks: dict[str, int] = field(default_factory=dict)

    @property
    def max_relative_error(self) -> float:
        """The worst relative error over all arrays."""
        return max(self.relative_errors.values(), default=0.0)

    def rows(self) -> list[tuple[str, float, float]]:
        """``(name, worst relative error, worst absolute error)`` per array."""
        return [(k, self.relative_errors[k], self.absolute_errors[k]) for k in self.relative_errors]

    def __str__(self) -> str:
        lines = [f"{'parameter':<12}{'max rel. error':>16}{'max abs. error':>16}"]
        for name, rel, abs_ in self.rows():
            lines.append(f"{name:<12}{rel:>16.3e}{abs_:>16.3e}")
        if sum(self.kinks.values()):
            lines.append(f"{sum(self.kinks.values())} entries not compared (a step crossed a kink)")
        return "\n".join(lines)


def gradcheck(
    net: Network,
    X: Any,
    Y: Any,
    sample_weight: Any = None,
    *,
    h: float | None = None,
    floor: float | None = None,
    training: bool = False,
    alpha: float = 0.0,
) -> GradcheckResult:
    """Compare ``net``'s backpropagated gradient with central finite differences.

    Parameters
    ----------
    net : Network
        Best in float64; its parameters are restored exactly afterwards.
    X : array-like of shape (m, n_0)
    Y : array-like of shape (m, n_L)
    sample_weight : array-like of shape (m,), optional
    h : float, optional
        Step of the finite differences; by default :data:`STEPS` of ``net``'s dtype
        (``1e-4`` in float64, ``1e-2`` in float32).
    floor : float, optional
        Smallest denominator of a relative error (by default :data:`STEPS` of the dtype):
        finite differences in float64 are accurate to about ``1e-12`` absolute, so entries
        smaller than ``floor`` are judged on that scale.
    training : bool, default=False
        Check the training-mode function (batch statistics; dropout with a mask held fixed
        by replaying the network's random generator for every evaluation).
    alpha : float, default=0.0
        L2 strength included in the cost, ``α/(2m) Σ‖W‖²`` (:meth:`Network.cost`).

    Returns
    -------
    GradcheckResult
    """
    default = STEPS[np.dtype(net.dtype).name]
    h = default if h is None else h
    floor = default if floor is None else floor
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    w = net.check_sample_weight(sample_weight, X.shape[0])
    rng_state = net.rng.bit_generator.state
    buffers = {k: v.copy() for k, v in net.buffers()}

    def restore_state() -> None:
        net.rng.bit_generator.state = rng_state
        net.set_buffers(buffers)

    restore_state()
    net.backward(X, Y, w, training, alpha)
    analytic = np.array(net.backend.to_numpy(net.grad), dtype=np.float64)

    def J() -> float:
        restore_state()
        return net.cost(X, Y, w, training, alpha, check=False)

    def active() -> np.ndarray:  # the sign of every kinked hidden unit
        hidden = net.hidden_activations(X)
        return np.concatenate(
            [
                (A > 0).ravel()
                for A, d in zip(hidden, net.dense, strict=False)
                if d.activation.kinked
            ]
        )

    kinked = not training and any(d.activation.kinked for d in net.dense[:-1])
    theta = net.parameters
    numeric = np.empty_like(analytic)
    crossed = np.zeros(theta.shape[0], dtype=bool)
    for i in range(theta.shape[0]):
        orig = theta[i].item()
        for shrink in (1, 10, 100) if kinked else (1,):  # a kink crossed: smaller steps
            hi = h / shrink
            vals, signs = [], []
            for step in (2 * hi, hi, -hi, -2 * hi):
                theta[i] = orig + step
                vals.append(J())
                if kinked:
                    signs.append(active())
            numeric[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * hi)
            crossed[i] = kinked and any((s != signs[0]).any() for s in signs[1:])
            if not crossed[i]:
                break
        theta[i] = orig
    restore_state()

    result = GradcheckResult(analytic=analytic, numeric=numeric)
    offset = 0
    for name, p in net.named_parameters():
        size = int(np.prod(p.shape))
        part = slice(offset, offset + size)
        keep = ~crossed[part]
        a, n = analytic[part][keep], numeric[part][keep]
        diff = np.abs(a - n)
        denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
        result.relative_errors[name] = float((diff / denom).max(initial=0.0))
        result.absolute_errors[name] = float(diff.max(initial=0.0))
        result.kinks[name] = int(size - keep.sum())
        offset += size
    return result
