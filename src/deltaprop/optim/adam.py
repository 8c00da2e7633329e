"""Adam and AdamW, in two forms (``style``): ``torch.optim``'s and Keras's/scikit-learn's.

The two differ in where the second bias correction goes, which matters through ``epsilon``
only: PyTorch divides the root second moment by ``sqrt(1 - beta_2**t)`` before adding
``epsilon``, Keras and scikit-learn's ``AdamOptimizer`` fold it into the step size and add
``epsilon`` to the uncorrected root. The ``"torch"`` form reproduces ``torch.optim.Adam``
operation for operation (see :mod:`deltaprop.optim.first_order`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from deltaprop.core import check_bool, check_real
from deltaprop.core import fused as _fused
from deltaprop.optim.base import Optimizer, check_style
from deltaprop.optim.first_order import _lerp_

__all__ = ["Adam", "AdamW", "adam_corrections"]


def adam_corrections(
    lr: float, beta_1: float, beta_2: float, t: int, keras: bool
) -> tuple[float, float]:
    """Adam's ``(sqrt(1 - beta_2**t), lr / (1 - beta_1**t))`` at step ``t`` (``keras``:
    ``(1, lr * sqrt(1 - beta_2**t) / (1 - beta_1**t))``): the divisor of the root second
    moment and the step size (the compiled loop's too, :mod:`deltaprop.fast.update`)."""
    root = math.sqrt(1.0 - beta_2 ** float(t))
    if keras:
        return 1.0, lr * root / (1.0 - beta_1 ** float(t))
    return root, lr / (1.0 - beta_1 ** float(t))


class Adam(Optimizer):
    """Adam (L2 ``weight_decay`` added to the gradient), as ``torch.optim.Adam`` or as
    Keras's ``Adam`` and scikit-learn's ``AdamOptimizer`` (``style``).

    ::

        g = grads + weight_decay * params
        m = lerp(m, g, 1 - beta_1)
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = maximum(v_max, v);  v_used = v_max if amsgrad else v
        bias_correction1 = 1 - beta_1**t;  bias_correction2 = 1 - beta_2**t
        style="torch":
            denom = sqrt(v_used) / sqrt(bias_correction2) + epsilon
            params -= (learning_rate / bias_correction1) * m / denom
        style="keras":
            lr_t = learning_rate * sqrt(bias_correction2) / bias_correction1
            params -= lr_t * m / (sqrt(v_used) + epsilon)

    The forms are equal but for ``epsilon``, which ``"keras"`` adds to the uncorrected
    root second moment: early steps and small gradients move differently.

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
    style : {"torch", "keras", "sklearn"}, default="torch"
        The update's form: ``torch.optim``'s, or Keras's and scikit-learn's (``"sklearn"``
        is read as ``"keras"``). ``weight_decay`` means the same in both (Keras's own
        ``weight_decay`` is decoupled: that is :class:`AdamW`).

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
        "style",
    )
    _hyperparam_defaults: ClassVar[Mapping[str, Any]] = {"style": "torch"}
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
        style: str = "torch",
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
        self.style = check_style(style)

    def _buffer_names(self) -> tuple[str, ...]:
        if self.amsgrad:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad")

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        if (
            _fused.get(params.size) is not None
            and params.flags.c_contiguous
            and grads.flags.c_contiguous
        ):
            self._fused_update(params, grads)
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

        bias_correction2_sqrt, step_size = self._corrections()

        second = exp_avg_sq
        if self.amsgrad:
            second = self.state["max_exp_avg_sq"]
            np.maximum(second, exp_avg_sq, out=second)
        denom = tmp
        np.sqrt(second, out=denom)
        denom /= bias_correction2_sqrt  # 1 in the "keras" form: the root as it is
        denom += self.epsilon
        # g is no longer needed: gbuf is free for the update itself.
        np.multiply(exp_avg, step_size, out=gbuf)
        gbuf /= denom
        params -= gbuf

    def _corrections(self) -> tuple[float, float]:
        """``(sqrt(bias_correction2), step_size)`` of this step (``self.t``), the root
        dividing the second moment and the factor of the first: ``(sqrt(bc2), lr / bc1)``
        (``"torch"``), ``(1, lr * sqrt(bc2) / bc1)`` (``"keras"``, scikit-learn's
        ``learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``)."""
        return adam_corrections(
            self.learning_rate, self.beta_1, self.beta_2, self.t, self.style == "keras"
        )

    def kernel_hyperparameters(self) -> list[float]:
        """The numbers the compiled loop's step (:mod:`deltaprop.fast.update`) takes as
        ``h``, in its order: ``beta_1``, ``beta_2``, ``epsilon``, ``weight_decay``, then
        1.0 or 0.0 for decoupled weight decay, AMSGrad and the ``"keras"`` style."""
        flags = (self.decoupled_weight_decay, self.amsgrad, self.style == "keras")
        return [self.beta_1, self.beta_2, self.epsilon, self.weight_decay,
                *(float(f) for f in flags)]  # fmt: skip

    def _fused_update(self, params: np.ndarray, grads: np.ndarray) -> None:
        """:meth:`_update` in one compiled pass (:meth:`kernel_update`): the same operations
        in the same order, each scalar cast to the dtype of ``params`` as NumPy casts it, so
        the same bits (save subnormal moments, flushed to zero: see there)."""
        lr, wd = self.learning_rate, self.weight_decay
        weight = 1.0 - self.beta_1  # _lerp_'s two branches
        lerp_small = abs(weight) < 0.5
        bias_correction2_sqrt, step_size = self._corrections()
        decoupled = self.decoupled_weight_decay and wd != 0.0
        state = self.state
        top = state["max_exp_avg_sq"] if self.amsgrad else state["exp_avg_sq"][:0]
        _fused.compiled(Adam.kernel_update)(
            params, grads, state["exp_avg"], state["exp_avg_sq"], top, self.amsgrad,
            1.0 - lr * wd if decoupled else 1.0, wd,
            weight if lerp_small else 1.0 - weight, lerp_small, self.beta_2,
            1.0 - self.beta_2, bias_correction2_sqrt, self.epsilon,
            step_size, wd != 0.0 and not self.decoupled_weight_decay,
            float(np.finfo(params.dtype).tiny),
        )  # fmt: skip

    @staticmethod
    def kernel_update(  # pragma: no cover - compiled
        params: Any, grads: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any,
        amsgrad: bool, decay: Any, weight_decay: Any, lerp_w: Any, lerp_small: bool,
        beta_2: Any, one_minus_beta_2: Any, bias_correction2_sqrt: Any, epsilon: Any,
        step_size: Any, l2: bool, tiny: Any,
    ) -> None:  # fmt: skip
        """One Adam/AdamW step in one pass, in the order of :meth:`_update` (see there): the
        compiled form, which the compiled loop (:mod:`deltaprop.fast.update`) and
        :meth:`_fused_update` run.

        With ``amsgrad``, ``max_exp_avg_sq`` keeps the running maximum of the second moment
        and divides the step (AMSGrad); otherwise it is not touched (an empty array will do).

        The scalars come as Python floats and are rounded to the dtype of ``params`` first;
        ``decay`` is 1 unless the weight decay is decoupled (``p * 1`` is ``p``, bit for bit).
        Branch-free but for the loop-invariant ``amsgrad``, so that it vectorizes.

        One departure from NumPy: a moment that falls below ``tiny`` (the smallest normal
        number) is flushed to zero, as XLA does. The first moment of a parameter whose
        gradient stays 0 (a dead unit, a constant input) decays by ``β₁`` a step and would
        spend about 150 steps subnormal, where x86 arithmetic is ~100 times slower; the
        parameters differ by less than ``step_size · tiny / ε`` from NumPy's.
        """
        t = params.dtype.type  # each scalar rounded to the dtype, as NumPy rounds floats
        decay, weight_decay, lerp_w, beta_2 = t(decay), t(weight_decay), t(lerp_w), t(beta_2)
        one_minus_beta_2, bias_correction2_sqrt = t(one_minus_beta_2), t(bias_correction2_sqrt)
        epsilon, step_size, tiny, zero = t(epsilon), t(step_size), t(tiny), t(0)
        for i in range(params.size):
            p = params[i] * decay
            g = grads[i]
            g = p * weight_decay + g if l2 else g
            m = exp_avg[i]
            d = g - m
            m = m + d * lerp_w if lerp_small else g - d * lerp_w
            m = zero if abs(m) < tiny else m  # flush a subnormal moment (NaN stays)
            exp_avg[i] = m
            v = exp_avg_sq[i] * beta_2 + g * one_minus_beta_2 * g
            v = zero if v < tiny else v
            exp_avg_sq[i] = v
            if amsgrad:
                top = max_exp_avg_sq[i]
                v = v if (v > top or np.isnan(v)) else top  # np.maximum: NaN wins
                max_exp_avg_sq[i] = v
            denom = np.sqrt(v) / bias_correction2_sqrt + epsilon
            params[i] = p - m * step_size / denom


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW`` or Keras's ``AdamW`` (``style``): decoupled weight
    decay, then the Adam step of that style.

    ``params *= 1 - learning_rate * weight_decay`` first, with the base rate (not the
    bias-corrected one) in both styles: PyTorch's step, and Keras's ``p - p * wd * lr``
    before its update; the gradient is not modified. Parameters, state and defaults are
    those of :class:`Adam` except ``weight_decay=0.01``.
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
        style: str = "torch",
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad, style)
