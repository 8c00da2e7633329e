"""The base class of the learning-rate schedules: a learning rate per epoch.

:class:`Schedule` checks the call's arguments, saves and restores the schedule's state,
and declares each schedule's settings for a fit of a given number of epochs
(:meth:`Schedule.epoch_defaults`); the subclasses live in :mod:`deltaprop.optim.decay`
(closed forms) and :mod:`deltaprop.optim.plateau`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from deltaprop.core import check_int
from deltaprop.optim.base import check_learning_rate

__all__ = ["Schedule", "StateDict"]

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
        lr0 = check_learning_rate(learning_rate_init, name="learning_rate_init")
        samples_seen = check_int("samples_seen", samples_seen, low=0, what="a non-negative int")
        return self._lr(epoch, lr0, samples_seen)

    def _lr(self, epoch: int, lr0: float, samples_seen: int) -> float:
        raise NotImplementedError

    @classmethod
    def epoch_defaults(cls, epochs: int) -> dict[str, Any]:
        """The constructor arguments this schedule takes, by default, for a fit of
        ``epochs`` epochs (none by default; see the subclasses)."""
        return {}

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
