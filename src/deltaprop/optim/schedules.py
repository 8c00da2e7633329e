"""Learning-rate schedules, evaluated once per epoch.

A schedule maps the epoch index (0-based) and the initial learning rate to the learning
rate to use during that epoch; the trainer writes it into ``optimizer.learning_rate`` before
the epoch's first step. The closed-form schedules (:class:`StepDecay`,
:class:`ExponentialDecay`, :class:`CosineAnnealing`) reproduce
:mod:`torch.optim.lr_scheduler` and are stateless. :class:`InverseScaling` is
scikit-learn's ``learning_rate="invscaling"`` and needs the number of training samples seen
before the epoch (``samples_seen``). :class:`ReduceOnPlateau` watches a metric (lower is
better) that the trainer reports after every epoch through :meth:`Schedule.on_epoch_end`;
it reproduces scikit-learn's ``learning_rate="adaptive"`` (``style="sklearn"``, the default)
or ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (``style="torch"``).

Trainer loop::

    schedule = get_schedule("cosine", t_max=epochs)
    samples_seen = 0
    for epoch in range(epochs):
        optimizer.learning_rate = schedule(epoch, learning_rate_init, samples_seen)
        ...  # one pass over the data, n_samples samples
        samples_seen += n_samples
        schedule.on_epoch_end(training_loss)
        if schedule.should_stop:  # only ReduceOnPlateau(style="sklearn") sets it
            break

>>> from deltaprop.optim.schedules import get_schedule
>>> schedule = get_schedule("step", step_size=2, gamma=0.5)
>>> [schedule(epoch, 0.1) for epoch in range(5)]
[0.1, 0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from deltaprop.core import check_int, check_real

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "InverseScaling",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "get_schedule",
]

StateDict = dict[str, np.ndarray | float | int | bool]


class Schedule:
    """Base class: a learning rate per epoch, optionally driven by a monitored metric.

    Attributes
    ----------
    name : str
        Registry name of the class.
    should_stop : bool
        ``True`` once the schedule asks the trainer to stop (only
        ``ReduceOnPlateau(style="sklearn")`` ever sets it).

    Notes
    -----
    Subclasses implement ``_lr``, list their numeric constructor arguments in
    ``_hyperparams`` and their mutable state in ``_state_vars`` (both saved by
    :meth:`state_dict`; string options are configuration and are not saved).
    """

    name: ClassVar[str] = ""
    _hyperparams: ClassVar[tuple[str, ...]] = ()
    _state_vars: ClassVar[tuple[str, ...]] = ()

    @property
    def should_stop(self) -> bool:
        """Whether the schedule asks the trainer to stop training."""
        return False

    def __call__(self, epoch: int, learning_rate_init: float, samples_seen: int = 0) -> float:
        """Learning rate to use during epoch ``epoch``.

        Parameters
        ----------
        epoch : int
            0-based epoch index, non-negative.
        learning_rate_init : float
            Initial (base) learning rate, positive.
        samples_seen : int, default=0
            Number of training samples processed before this epoch (``epoch * n_samples``
            for full passes); used by :class:`InverseScaling`, ignored by the others.

        Returns
        -------
        float
        """
        epoch = check_int("epoch", epoch, low=0, what="a non-negative int")
        lr0 = check_real(
            "learning_rate_init",
            learning_rate_init,
            low=0.0,
            low_open=True,
            what="a positive finite float",
        )
        samples_seen = check_int("samples_seen", samples_seen, low=0, what="a non-negative int")
        return self._lr(epoch, lr0, samples_seen)

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        raise NotImplementedError

    def on_epoch_end(self, metric: float) -> None:
        """Report the epoch's monitored metric (lower is better). No-op by default."""

    def reset(self) -> None:
        """Forget the state accumulated from :meth:`on_epoch_end` (none by default)."""

    def state_dict(self) -> StateDict:
        """Numeric hyper-parameters and state, as Python scalars."""
        return {key: getattr(self, key) for key in (*self._hyperparams, *self._state_vars)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`; string options are kept from the constructor.

        Raises
        ------
        ValueError
            On missing, unexpected or invalid entries.
        """
        expected = {*self._hyperparams, *self._state_vars}
        missing = sorted(expected - set(state))
        if missing:
            raise ValueError(f"state is missing keys: {', '.join(missing)}")
        unexpected = sorted(set(state) - expected)
        if unexpected:
            raise ValueError(f"state has unexpected keys: {', '.join(unexpected)}")
        # The constructor validates the hyper-parameters.
        fresh = self._rebuild({key: state[key] for key in self._hyperparams})
        for key in self._hyperparams:
            setattr(self, key, getattr(fresh, key))
        self._load_state({key: state[key] for key in self._state_vars})

    def _rebuild(self, hyper: dict[str, Any]) -> Schedule:
        return type(self)(**hyper)

    def _load_state(self, state: dict[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._hyperparams)
        return f"{type(self).__name__}({args})"


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


class ReduceOnPlateau(Schedule):
    """Reduce the learning rate when the monitored metric stops improving.

    Driven by :meth:`on_epoch_end` with the epoch's metric (training or validation loss,
    lower is better), called after every epoch; the call for the next epoch returns the
    reduced rate. An epoch is *bad* if ``metric > best - tol`` (``threshold_mode="abs"``)
    or ``metric > best * (1 - tol)`` (``"rel"``). When more than ``patience`` consecutive
    epochs are bad, the rate is reduced and the count restarts at 0.

    ``style="sklearn"`` reproduces scikit-learn's ``learning_rate="adaptive"``
    (``_update_no_improvement_count`` and ``SGDOptimizer.trigger_stopping``):

    - ``best`` becomes ``metric`` whenever ``metric < best`` (by any amount);
    - a reduction divides the rate by ``1 / factor`` (``lr /= 5`` for ``factor=0.2``),
      with no floor; but if the rate in use is already ``<= min_lr``, the schedule sets
      :attr:`should_stop` instead.

    scikit-learn's defaults are ``factor=0.2, patience=n_iter_no_change=10, tol=1e-4,
    min_lr=1e-6`` (so the rate is divided by 5 after 11 consecutive epochs without an
    improvement of ``tol``). With ``early_stopping``, scikit-learn monitors the validation
    score (higher is better): pass its negative.

    ``style="torch"`` reproduces ``torch.optim.lr_scheduler.ReduceLROnPlateau``
    (``mode="min"``; note torch's default ``threshold_mode`` is ``"rel"``):

    - ``best`` is updated (and the count reset) only on an improvement beyond ``tol``;
    - a reduction sets ``lr = max(lr * factor, min_lr)`` (skipped if it would change the
      rate by at most ``1e-8``), followed by ``cooldown`` epochs whose bad epochs are not
      counted; :attr:`should_stop` stays ``False``.

    Parameters
    ----------
    factor : float, default=0.2
        Reduction factor, in (0, 1).
    patience : int, default=10
        Number of bad epochs tolerated before a reduction, non-negative.
    tol : float, default=1e-4
        Minimum improvement (absolute or relative, see ``threshold_mode``), non-negative.
    min_lr : float, default=1e-6
        ``"sklearn"``: stop instead of reducing once the rate is at or below it.
        ``"torch"``: lower bound of the rate. Non-negative.
    style : {"sklearn", "torch"}, default="sklearn"
    threshold_mode : {"abs", "rel"}, default="abs"
    cooldown : int, default=0
        Epochs after a reduction during which bad epochs are not counted (torch's
        ``cooldown``; applies to both styles), non-negative.

    Attributes
    ----------
    best : float
        Best metric so far (``inf`` before the first report).
    num_bad_epochs : int
        Current count of consecutive bad epochs.
    num_reductions : int
        Number of reductions so far (the rate is ``lr0`` reduced that many times).
    cooldown_counter : int
        Remaining cooldown epochs.
    last_learning_rate : float
        Rate returned by the last call (``nan`` before the first); ``"sklearn"`` compares
        it with ``min_lr``, so call the schedule at the start of every epoch.

    Notes
    -----
    The rate is recomputed from ``lr0`` by replaying the ``num_reductions`` reductions, so
    it follows a change of ``learning_rate_init`` and needs no separate state.
    """

    name: ClassVar[str] = "plateau"
    _hyperparams: ClassVar[tuple[str, ...]] = ("factor", "patience", "tol", "min_lr", "cooldown")
    _state_vars: ClassVar[tuple[str, ...]] = (
        "best",
        "num_bad_epochs",
        "num_reductions",
        "cooldown_counter",
        "last_learning_rate",
        "stop_requested",
    )
    _TORCH_EPS: ClassVar[float] = 1e-8

    def __init__(
        self,
        factor: float = 0.2,
        patience: int = 10,
        tol: float = 1e-4,
        min_lr: float = 1e-6,
        style: Literal["sklearn", "torch"] = "sklearn",
        threshold_mode: Literal["abs", "rel"] = "abs",
        cooldown: int = 0,
    ) -> None:
        self.factor = check_real(
            "factor",
            factor,
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
            what="a float in (0, 1)",
        )
        self.patience = check_int("patience", patience, low=0, what="a non-negative int")
        self.tol = check_real("tol", tol, low=0.0, what="a non-negative float")
        self.min_lr = check_real("min_lr", min_lr, low=0.0, what="a non-negative float")
        if style not in ("sklearn", "torch"):
            raise ValueError(f"style must be 'sklearn' or 'torch'. Received: style={style!r}")
        self.style: Literal["sklearn", "torch"] = style
        if threshold_mode not in ("abs", "rel"):
            raise ValueError(
                "threshold_mode must be 'abs' or 'rel'. "
                f"Received: threshold_mode={threshold_mode!r}"
            )
        self.threshold_mode: Literal["abs", "rel"] = threshold_mode
        self.cooldown = check_int("cooldown", cooldown, low=0, what="a non-negative int")
        self.reset()

    def reset(self) -> None:
        """Forget the metric history and the reductions."""
        self.best: float = math.inf
        self.num_bad_epochs: int = 0
        self.num_reductions: int = 0
        self.cooldown_counter: int = 0
        self.last_learning_rate: float = math.nan
        self.stop_requested: bool = False

    @property
    def should_stop(self) -> bool:
        """``True`` once a reduction was due while the rate was already ``<= min_lr``."""
        return self.stop_requested

    def _reduce(self, lr: float) -> float:
        if self.style == "sklearn":
            return lr / (1.0 / self.factor)
        new_lr = max(lr * self.factor, self.min_lr)
        return new_lr if lr - new_lr > self._TORCH_EPS else lr

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        lr = lr0
        for _ in range(self.num_reductions):
            lr = self._reduce(lr)
        self.last_learning_rate = lr
        return lr

    def _improved(self, metric: float) -> bool:
        if self.threshold_mode == "rel":
            return metric < self.best * (1.0 - self.tol)
        return metric < self.best - self.tol

    def on_epoch_end(self, metric: float) -> None:
        """Report the epoch's metric (lower is better) and maybe schedule a reduction.

        Parameters
        ----------
        metric : float
            Training or validation loss of the epoch that just ended.
        """
        current = float(metric)
        if self.style == "sklearn":
            if self._improved(current):
                self.num_bad_epochs = 0
            else:
                self.num_bad_epochs += 1
            if current < self.best:
                self.best = current
        elif self._improved(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            if self.style == "sklearn" and self.last_learning_rate <= self.min_lr:
                self.stop_requested = True
                return
            self.num_reductions += 1
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _rebuild(self, hyper: dict[str, Any]) -> Schedule:
        return ReduceOnPlateau(style=self.style, threshold_mode=self.threshold_mode, **hyper)

    def _load_state(self, state: dict[str, Any]) -> None:
        best = state["best"]
        if not isinstance(best, numbers.Real) or isinstance(best, bool) or math.isnan(best):
            raise ValueError(f"best must be a float or inf. Received: best={best!r}")
        last = state["last_learning_rate"]
        if not isinstance(last, numbers.Real) or isinstance(last, bool):
            raise ValueError(
                f"last_learning_rate must be a float. Received: last_learning_rate={last!r}"
            )
        stop = state["stop_requested"]
        if not isinstance(stop, bool | np.bool_):
            raise ValueError(f"stop_requested must be a bool. Received: stop_requested={stop!r}")
        self.best = float(best)
        self.num_bad_epochs = check_int(
            "num_bad_epochs", state["num_bad_epochs"], low=0, what="a non-negative int"
        )
        self.num_reductions = check_int(
            "num_reductions", state["num_reductions"], low=0, what="a non-negative int"
        )
        self.cooldown_counter = check_int(
            "cooldown_counter", state["cooldown_counter"], low=0, what="a non-negative int"
        )
        self.last_learning_rate = float(last)
        self.stop_requested = bool(stop)

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau(factor={self.factor!r}, patience={self.patience}, "
            f"tol={self.tol!r}, min_lr={self.min_lr!r}, style={self.style!r}, "
            f"threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown})"
        )


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (Constant, StepDecay, ExponentialDecay, CosineAnnealing, InverseScaling)
}
SCHEDULES["plateau"] = ReduceOnPlateau
SCHEDULES["adaptive"] = ReduceOnPlateau


def get_schedule(name_or_instance: str | Schedule | type[Schedule], **kwargs: Any) -> Schedule:
    """Return a schedule from a registry name, a class, or an instance.

    Parameters
    ----------
    name_or_instance : str, Schedule or Schedule subclass
        A name in :data:`SCHEDULES` (case-insensitive; ``"adaptive"`` is an alias of
        ``"plateau"``), an instance (returned unchanged) or a class (instantiated with
        ``kwargs``).
    **kwargs
        Constructor arguments (only with a name or a class).

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        For an unknown identifier (the message lists the valid names), or keyword
        arguments given with an instance.

    Examples
    --------
    >>> get_schedule("adaptive").patience
    10
    >>> get_schedule("cosine", t_max=4)(2, 0.1)
    0.05
    """
    if isinstance(name_or_instance, Schedule):
        if kwargs:
            raise ValueError(
                "keyword arguments cannot be applied to a schedule instance. Received: "
                f"{sorted(kwargs)}"
            )
        return name_or_instance
    if isinstance(name_or_instance, type) and issubclass(name_or_instance, Schedule):
        return name_or_instance(**kwargs)
    if isinstance(name_or_instance, str) and name_or_instance.lower() in SCHEDULES:
        return SCHEDULES[name_or_instance.lower()](**kwargs)
    raise ValueError(
        f"Could not interpret schedule identifier: {name_or_instance!r}. "
        f"Valid names: {', '.join(sorted(SCHEDULES))}"
    )
