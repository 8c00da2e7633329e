"""The closed-form learning-rate schedules: constant, step, exponential, cosine, invscaling.

:class:`StepDecay`, :class:`ExponentialDecay` and :class:`CosineAnnealing` reproduce
:mod:`torch.optim.lr_scheduler` and are stateless; :class:`InverseScaling` is
scikit-learn's ``learning_rate="invscaling"``. Each that needs settings declares them for
a fit of ``epochs`` epochs (:meth:`~deltaprop.optim.schedule.Schedule.epoch_defaults`): step
decay divides by 10 twice, exponential decay ends near 1% of the rate, cosine reaches 0.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from deltaprop.core import check_int, check_real
from deltaprop.optim.schedule import Schedule

__all__ = ["Constant", "CosineAnnealing", "ExponentialDecay", "InverseScaling", "StepDecay"]


class Constant(Schedule):
    """The initial learning rate in every epoch."""

    name: ClassVar[str] = "constant"

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        return lr0


class StepDecay(Schedule):
    """``lr0 * gamma ** (epoch // step_size)``, as ``torch.optim.lr_scheduler.StepLR``.

    Parameters
    ----------
    step_size : int
        Epochs between decays, positive.
    gamma : float, default=0.1
        Multiplicative decay, positive.
    """

    name: ClassVar[str] = "step"
    _hyperparams: ClassVar[tuple[str, ...]] = ("step_size", "gamma")

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int("step_size", step_size, low=1, what="a positive int")
        self.gamma = check_real("gamma", gamma, low=0.0, low_open=True, what="a positive float")

    @classmethod
    def epoch_defaults(cls, epochs: int) -> dict[str, Any]:
        """``step_size = max(1, epochs // 3)``: divided by 10 twice over the fit."""
        return {"step_size": max(1, epochs // 3)}

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        return lr0 * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """``lr0 * gamma ** epoch``, as ``torch.optim.lr_scheduler.ExponentialLR``.

    Parameters
    ----------
    gamma : float
        Multiplicative decay per epoch, positive.
    """

    name: ClassVar[str] = "exponential"
    _hyperparams: ClassVar[tuple[str, ...]] = ("gamma",)

    def __init__(self, gamma: float) -> None:
        self.gamma = check_real("gamma", gamma, low=0.0, low_open=True, what="a positive float")

    @classmethod
    def epoch_defaults(cls, epochs: int) -> dict[str, Any]:
        """``gamma = 0.01 ** (1 / max(epochs, 1))``: near 1% of the rate at the end."""
        return {"gamma": 0.01 ** (1.0 / max(epochs, 1))}

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        return lr0 * self.gamma**epoch


class CosineAnnealing(Schedule):
    """Cosine annealing from ``lr0`` to ``eta_min`` over ``t_max`` epochs.

    ``eta_min + (lr0 - eta_min) * (1 + cos(pi * epoch / t_max)) / 2``, the closed form of
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (without restarts: past ``t_max`` the
    cosine goes on, back up towards ``lr0`` at ``2 * t_max``).

    Parameters
    ----------
    t_max : int
        Half period in epochs, positive.
    eta_min : float, default=0.0
        Minimum learning rate, non-negative.
    """

    name: ClassVar[str] = "cosine"
    _hyperparams: ClassVar[tuple[str, ...]] = ("t_max", "eta_min")

    def __init__(self, t_max: int, eta_min: float = 0.0) -> None:
        self.t_max = check_int("t_max", t_max, low=1, what="a positive int")
        self.eta_min = check_real("eta_min", eta_min, low=0.0, what="a non-negative float")

    @classmethod
    def epoch_defaults(cls, epochs: int) -> dict[str, Any]:
        """``t_max = max(epochs, 1)``: down to ``eta_min`` at the end of the fit."""
        return {"t_max": max(epochs, 1)}

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        return (
            self.eta_min + (lr0 - self.eta_min) * (1 + math.cos(math.pi * epoch / self.t_max)) / 2
        )


class InverseScaling(Schedule):
    """scikit-learn's ``"invscaling"``: ``lr0 / (samples_seen + 1) ** power_t``.

    ``samples_seen`` is the number of training samples processed before the epoch
    (scikit-learn's ``t_``, which grows by ``n_samples`` per epoch), passed as the third
    argument of the call; the epoch index is not used. With ``samples_seen=0`` (first
    epoch) the rate is ``lr0``.

    Parameters
    ----------
    power_t : float, default=0.5
        Exponent, non-negative.
    """

    name: ClassVar[str] = "invscaling"
    _hyperparams: ClassVar[tuple[str, ...]] = ("power_t",)

    def __init__(self, power_t: float = 0.5) -> None:
        self.power_t = check_real("power_t", power_t, low=0.0, what="a non-negative float")

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        return lr0 / (samples_seen + 1) ** self.power_t
