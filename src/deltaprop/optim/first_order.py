"""The first-order optimizers: SGD (momentum, Nesterov), RMSprop, Adam and AdamW.

Each writes only its ``_update`` on the flat buffer; :class:`~deltaprop.optim.base.Optimizer`
keeps the bookkeeping. The update rules reproduce :mod:`torch.optim` formula for formula
and, as far as NumPy allows, operation for operation, so that float64 trajectories agree
with PyTorch's to round-off (PyTorch's CPU kernels fuse some multiply-adds, which NumPy
cannot; the difference after 20 steps is about 1e-13 relative).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from deltaprop.core import check_bool, check_real
from deltaprop.core import fused as _fused
from deltaprop.optim.base import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Momentum", "Nesterov", "RMSprop"]


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

    Same update as ``torch.optim.SGD`` with ``dampening=0``::

        g = grads + weight_decay * params
        buf = g                        (first step)
        buf = momentum * buf + g       (later steps)
        g = g + momentum * buf         (nesterov)  or  g = buf  (momentum > 0)
        params -= learning_rate * g

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

    Notes
    -----
    State: ``"momentum_buffer"`` of shape (n_params,) when ``momentum > 0``.
    """

    name: ClassVar[str] = "sgd"
    _hyperparams: ClassVar[tuple[str, ...]] = ("momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
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

    def _buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad") if self.weight_decay != 0.0 else ("tmp",)

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

    def kernel_hyperparameters(self) -> list[float]:
        """The numbers :meth:`kernel_update` takes as ``h``, in its order."""
        return [self.momentum, float(self.nesterov), self.weight_decay]

    @staticmethod
    def kernel_update(  # pragma: no cover - compiled
        params: Any, grads: Any, buf: Any, t: int, lr: float, h: Any
    ) -> None:  # fmt: skip
        """:meth:`_update` entry by entry, in the same operations (the compiled loop's form;
        ``t`` the step, ``h`` from :meth:`kernel_hyperparameters`)."""
        d = params.dtype.type
        rate, momentum, nesterov, weight_decay = d(lr), d(h[0]), h[1] != 0, d(h[2])
        for i in range(params.size):
            g = grads[i]
            if weight_decay != d(0):
                g = params[i] * weight_decay + g
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
    ) -> None:
        super().__init__(learning_rate, momentum, nesterov, weight_decay)


class Nesterov(SGD):
    """:class:`SGD` with ``momentum=0.9, nesterov=True`` by default (name ``"nesterov"``)."""

    name: ClassVar[str] = "nesterov"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, momentum, nesterov, weight_decay)


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


# ----------------------------------------------------------------------------------------
# Adam / AdamW
# ----------------------------------------------------------------------------------------
class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient).

    ::

        g = grads + weight_decay * params
        m = lerp(m, g, 1 - beta_1)
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = maximum(v_max, v);  v_used = v_max if amsgrad else v
        bias_correction1 = 1 - beta_1**t;  bias_correction2 = 1 - beta_2**t
        denom = sqrt(v_used) / sqrt(bias_correction2) + epsilon
        params -= (learning_rate / bias_correction1) * m / denom

    Parameters
    ----------
    learning_rate : float, default=1e-3
        Step size, positive.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the bias-corrected root second moment, non-negative.
    weight_decay : float, default=0.0
        L2 penalty coefficient (added to the gradient), non-negative.
    amsgrad : bool, default=False
        Use the running maximum of the second moment (AMSGrad).

    Notes
    -----
    State, each of shape (n_params,): ``"exp_avg"``, ``"exp_avg_sq"`` and, with AMSGrad,
    ``"max_exp_avg_sq"``.
    """

    name: ClassVar[str] = "adam"
    _hyperparams: ClassVar[tuple[str, ...]] = (
        "beta_1",
        "beta_2",
        "epsilon",
        "weight_decay",
        "amsgrad",
    )
    _decoupled: ClassVar[bool] = False

    @property
    def decoupled_weight_decay(self) -> bool:
        """Whether the weight decay shrinks ``params`` directly (AdamW) instead of
        entering the gradient as an L2 term (Adam)."""
        return self._decoupled

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = check_real(
            "beta_1", beta_1, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.beta_2 = check_real(
            "beta_2", beta_2, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.epsilon = check_real("epsilon", epsilon, low=0.0, what="a non-negative finite float")
        self.weight_decay = check_real(
            "weight_decay", weight_decay, low=0.0, what="a non-negative finite float"
        )
        self.amsgrad = check_bool("amsgrad", amsgrad)

    def _buffer_names(self) -> tuple[str, ...]:
        if self.amsgrad:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad")

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        kernels = _fused.get(params.size)
        if kernels is not None and params.flags.c_contiguous and grads.flags.c_contiguous:
            self._fused_update(kernels, params, grads)
            return
        tmp, gbuf = self._scratch["tmp"], self._scratch["grad"]
        lr = self.learning_rate
        g = grads
        if self.weight_decay != 0.0:
            if self.decoupled_weight_decay:
                params *= 1.0 - lr * self.weight_decay
            else:
                g = gbuf
                np.multiply(params, self.weight_decay, out=g)
                g += grads
        exp_avg, exp_avg_sq = self.state["exp_avg"], self.state["exp_avg_sq"]
        _lerp_(exp_avg, g, 1.0 - self.beta_1, tmp)
        exp_avg_sq *= self.beta_2
        np.multiply(g, 1.0 - self.beta_2, out=tmp)
        tmp *= g
        exp_avg_sq += tmp

        step = float(self.t)
        bias_correction1 = 1.0 - self.beta_1**step
        bias_correction2 = 1.0 - self.beta_2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        second = exp_avg_sq
        if self.amsgrad:
            second = self.state["max_exp_avg_sq"]
            np.maximum(second, exp_avg_sq, out=second)
        denom = tmp
        np.sqrt(second, out=denom)
        denom /= bias_correction2_sqrt
        denom += self.epsilon
        # g is no longer needed: gbuf is free for the update itself.
        np.multiply(exp_avg, step_size, out=gbuf)
        gbuf /= denom
        params -= gbuf

    def _fused_update(self, kernels: Any, params: np.ndarray, grads: np.ndarray) -> None:
        """:meth:`_update` in one compiled pass: the same operations in the same order, each
        scalar cast to the dtype of ``params`` as NumPy casts it, so the same bits (save
        subnormal moments, flushed to zero: see ``deltaprop.core.kernels.adam``)."""
        lr, wd = self.learning_rate, self.weight_decay
        weight = 1.0 - self.beta_1  # _lerp_'s two branches
        lerp_small = abs(weight) < 0.5
        step = float(self.t)
        decoupled = self.decoupled_weight_decay and wd != 0.0
        state = self.state
        top = state["max_exp_avg_sq"] if self.amsgrad else state["exp_avg_sq"][:0]
        kernels.adam(
            params, grads, state["exp_avg"], state["exp_avg_sq"], top, self.amsgrad,
            1.0 - lr * wd if decoupled else 1.0, wd,
            weight if lerp_small else 1.0 - weight, lerp_small, self.beta_2,
            1.0 - self.beta_2, (1.0 - self.beta_2**step) ** 0.5, self.epsilon,
            lr / (1.0 - self.beta_1**step), wd != 0.0 and not self.decoupled_weight_decay,
            float(np.finfo(params.dtype).tiny),
        )  # fmt: skip


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: decoupled weight decay, then the Adam step.

    ``params *= 1 - learning_rate * weight_decay`` first; the gradient is not modified.
    Parameters, state and defaults are those of :class:`Adam` except
    ``weight_decay=0.01``.
    """

    name: ClassVar[str] = "adamw"
    _decoupled: ClassVar[bool] = True

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad)
