"""The first-order optimizers SGD (momentum, Nesterov) and RMSprop (Adam and AdamW:
:mod:`deltaprop.optim.adam`).

Each writes only its ``_update`` on the flat buffer; :class:`~deltaprop.optim.base.Optimizer`
keeps the bookkeeping. The update rules reproduce :mod:`torch.optim` formula for formula
and, as far as NumPy allows, operation for operation, so that float64 trajectories agree
with PyTorch's to round-off (PyTorch's CPU kernels fuse some multiply-adds, which NumPy
cannot; the difference after 20 steps is about 1e-13 relative). SGD and Adam also take
Keras's and scikit-learn's form (``style="keras"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from deltaprop.core import check_bool, check_real
from deltaprop.optim.base import Optimizer, check_style

__all__ = ["SGD", "Momentum", "Nesterov", "RMSprop"]


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start <- start + weight * (end - start)``, in place, as ``torch.Tensor.lerp_``.

    PyTorch evaluates the interpolation from whichever end is nearer to ``weight`` (the two
    branches below); ``tmp`` is a scratch array of the same shape.
    """
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


# ----------------------------------------------------------------------------------------
# SGD
# ----------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay.

    ``style="torch"``: the update of ``torch.optim.SGD`` with ``dampening=0``, the buffer a
    running sum of gradients::

        g = grads + weight_decay * params
        buf = g                        (first step)
        buf = momentum * buf + g       (later steps)
        g = g + momentum * buf         (nesterov)  or  g = buf  (momentum > 0)
        params -= learning_rate * g

    ``style="keras"``: the update of Keras's ``SGD`` and scikit-learn's ``SGDOptimizer``,
    the buffer a velocity (a step, zero before the first)::

        g = grads + weight_decay * params
        buf = momentum * buf - learning_rate * g
        params += momentum * buf - learning_rate * g   (nesterov)
        params += buf                                  (momentum > 0)
        params -= learning_rate * g                    (otherwise)

    The two are the same steps while the learning rate stays constant; once a schedule
    changes it, ``"torch"`` applies the new rate to the whole accumulated buffer, ``"keras"``
    only to the new gradient.

    Parameters
    ----------
    learning_rate : float, default=0.01
        Step size, positive.
    momentum : float, default=0.0
        Momentum factor in [0, 1).
    nesterov : bool, default=False
        Use Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, default=0.0
        L2 penalty coefficient (added to the gradient), non-negative.
    style : {"torch", "keras", "sklearn"}, default="torch"
        The update's form, above (``"sklearn"`` is read as ``"keras"``).

    Notes
    -----
    State: ``"momentum_buffer"`` of shape (n_params,) when ``momentum > 0``: the sum
    (``"torch"``) or the velocity (``"keras"``).
    """

    name: ClassVar[str] = "sgd"
    _hyperparams: ClassVar[tuple[str, ...]] = ("momentum", "nesterov", "weight_decay", "style")
    _hyperparam_defaults: ClassVar[Mapping[str, Any]] = {"style": "torch"}

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        style: str = "torch",
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = check_real(
            "momentum", momentum, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.nesterov = check_bool("nesterov", nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(
                "nesterov=True requires momentum > 0. "
                f"Received: nesterov={nesterov!r}, momentum={momentum!r}"
            )
        self.weight_decay = check_real(
            "weight_decay", weight_decay, low=0.0, what="a non-negative finite float"
        )
        self.style = check_style(style)

    def _buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad")

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        """The seeds' update ``W -= α dW`` (and ``b -= α db``), over the flat buffer:
        ``params -= learning_rate * g``, with ``g`` the gradient after weight decay and
        momentum (plain SGD: ``g = grads``)."""
        tmp = self._scratch["tmp"]
        g = grads
        if self.weight_decay != 0.0:
            g = self._scratch["grad"]
            np.multiply(params, self.weight_decay, out=g)
            g += grads
        if self.style == "keras" and self.momentum != 0.0:
            self._keras_momentum(params, g)
            return
        if self.momentum != 0.0:
            buf = self.state["momentum_buffer"]
            if self.t == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                buf += g
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, self.learning_rate, out=tmp)
        params -= tmp

    def _keras_momentum(self, params: np.ndarray, g: np.ndarray) -> None:
        """The ``"keras"`` step with momentum, ``g`` the gradient after weight decay (in
        scratch ``"grad"`` or the caller's, not written): ``buf = momentum * buf - lr g``,
        then ``params += buf`` or, Nesterov, ``params += momentum * buf - lr g``."""
        buf, step = self.state["momentum_buffer"], self._scratch["tmp"]
        lr_g = np.multiply(g, self.learning_rate, out=self._scratch["grad"])  # g is done
        buf *= self.momentum
        buf -= lr_g
        if self.nesterov:
            np.multiply(buf, self.momentum, out=step)
            step -= lr_g
            params += step
        else:
            params += buf

    def kernel_hyperparameters(self) -> list[float]:
        """The numbers :meth:`kernel_update` takes as ``h``, in its order."""
        return [self.momentum, float(self.nesterov), self.weight_decay,
                float(self.style == "keras")]  # fmt: skip

    @staticmethod
    def kernel_update(  # pragma: no cover - compiled
        params: Any, grads: Any, buf: Any, t: int, lr: float, h: Any
    ) -> None:  # fmt: skip
        """:meth:`_update` entry by entry, in the same operations (the compiled loop's form;
        ``t`` the step, ``h`` from :meth:`kernel_hyperparameters`)."""
        d = params.dtype.type
        rate, momentum, nesterov, weight_decay = d(lr), d(h[0]), h[1] != 0, d(h[2])
        keras = h[3] != 0 and momentum != d(0)
        for i in range(params.size):
            g = grads[i]
            if weight_decay != d(0):
                g = params[i] * weight_decay + g
            if keras:
                lr_g = g * rate
                b = buf[i] * momentum - lr_g
                buf[i] = b
                params[i] = params[i] + (b * momentum - lr_g if nesterov else b)
                continue
            if momentum != d(0):
                b = g if t == 1 else buf[i] * momentum + g
                buf[i] = b
                g = b * momentum + g if nesterov else b
            params[i] = params[i] - g * rate


class Momentum(SGD):
    """:class:`SGD` with ``momentum=0.9`` by default (registry name ``"momentum"``)."""

    name: ClassVar[str] = "momentum"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        style: str = "torch",
    ) -> None:
        super().__init__(learning_rate, momentum, nesterov, weight_decay, style)


class Nesterov(SGD):
    """:class:`SGD` with ``momentum=0.9, nesterov=True`` by default (name ``"nesterov"``)."""

    name: ClassVar[str] = "nesterov"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        style: str = "torch",
    ) -> None:
        super().__init__(learning_rate, momentum, nesterov, weight_decay, style)


# ----------------------------------------------------------------------------------------
# RMSprop
# ----------------------------------------------------------------------------------------
class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (``alpha`` is called ``rho`` here).

    ::

        g = grads + weight_decay * params
        v = rho * v + (1 - rho) * g**2
        gbar = lerp(gbar, g, 1 - rho);  avg = sqrt(v - gbar**2)   (centered)
        avg = sqrt(v)                                             (otherwise)
        avg = avg + epsilon
        buf = momentum * buf + g / avg;  params -= learning_rate * buf   (momentum > 0)
        params -= learning_rate * g / avg                                (otherwise)

    Parameters
    ----------
    learning_rate : float, default=0.01
        Step size, positive.
    rho : float, default=0.99
        Decay of the running average of squared gradients, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root mean square (after the square root), non-negative.
    momentum : float, default=0.0
        Momentum factor in [0, 1).
    centered : bool, default=False
        Normalise by the estimated variance of the gradient instead of its second moment.
    weight_decay : float, default=0.0
        L2 penalty coefficient (added to the gradient), non-negative.

    Notes
    -----
    State, each of shape (n_params,): ``"square_avg"``; ``"grad_avg"`` when centered;
    ``"momentum_buffer"`` when ``momentum > 0``.
    """

    name: ClassVar[str] = "rmsprop"
    _hyperparams: ClassVar[tuple[str, ...]] = (
        "rho",
        "epsilon",
        "momentum",
        "centered",
        "weight_decay",
    )

    def __init__(
        self,
        learning_rate: float = 0.01,
        rho: float = 0.99,
        epsilon: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.rho = check_real(
            "rho", rho, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.epsilon = check_real("epsilon", epsilon, low=0.0, what="a non-negative finite float")
        self.momentum = check_real(
            "momentum", momentum, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.centered = check_bool("centered", centered)
        self.weight_decay = check_real(
            "weight_decay", weight_decay, low=0.0, what="a non-negative finite float"
        )

    def _buffer_names(self) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.centered:
            names.append("grad_avg")
        if self.momentum > 0.0:
            names.append("momentum_buffer")
        return tuple(names)

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad")

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        tmp, gbuf = self._scratch["tmp"], self._scratch["grad"]
        g = grads
        if self.weight_decay != 0.0:
            g = gbuf
            np.multiply(params, self.weight_decay, out=g)
            g += grads
        square_avg = self.state["square_avg"]
        square_avg *= self.rho
        np.multiply(g, 1.0 - self.rho, out=tmp)
        tmp *= g
        square_avg += tmp
        avg = tmp
        if self.centered:
            grad_avg = self.state["grad_avg"]
            _lerp_(grad_avg, g, 1.0 - self.rho, tmp)
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        avg += self.epsilon
        if self.momentum > 0.0:
            buf = self.state["momentum_buffer"]
            buf *= self.momentum
            np.divide(g, avg, out=avg)
            buf += avg
            np.multiply(buf, self.learning_rate, out=avg)
            params -= avg
        else:
            np.multiply(g, self.learning_rate, out=gbuf)
            gbuf /= avg
            params -= gbuf

    def kernel_hyperparameters(self) -> list[float]:
        """The numbers :meth:`kernel_update` takes as ``h``, in its order."""
        w = 1.0 - self.rho  # the weight of _lerp_, and its branch
        return [self.rho, w, self.epsilon, self.momentum, float(self.centered),
                self.weight_decay, w if abs(w) < 0.5 else 1.0 - w, float(abs(w) < 0.5)]  # fmt: skip

    @staticmethod
    def kernel_update(  # pragma: no cover - compiled
        params: Any, grads: Any, square_avg: Any, grad_avg: Any, buf: Any, lr: float, h: Any
    ) -> None:  # fmt: skip
        """:meth:`_update` entry by entry, in the same operations (the compiled loop's form;
        ``h`` from :meth:`kernel_hyperparameters`, each number rounded to the dtype first as
        NumPy rounds a Python float)."""
        t = params.dtype.type
        rho, one_minus_rho, eps, momentum = t(h[0]), t(h[1]), t(h[2]), t(h[3])
        centered, wd, lerp_w, lerp_small = h[4] != 0, t(h[5]), t(h[6]), h[7] != 0
        rate, zero = t(lr), t(0)
        for i in range(params.size):
            g = grads[i]
            if wd != zero:
                g = params[i] * wd + g
            v = square_avg[i] * rho + g * one_minus_rho * g
            square_avg[i] = v
            if centered:
                mean = grad_avg[i]
                d = g - mean
                mean = mean + d * lerp_w if lerp_small else g - d * lerp_w
                grad_avg[i] = mean
                avg = np.sqrt(v - mean * mean) + eps
            else:
                avg = np.sqrt(v) + eps
            if momentum > zero:
                b = buf[i] * momentum + g / avg
                buf[i] = b
                params[i] = params[i] - b * rate
            else:
                params[i] = params[i] - g * rate / avg
