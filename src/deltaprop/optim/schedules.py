"""Learning-rate schedules, evaluated once per epoch, by name: :data:`SCHEDULES`,
:func:`get_schedule` and :func:`schedule_for_epochs`.

The classes live in :mod:`deltaprop.optim.schedule` (the base class),
:mod:`deltaprop.optim.decay` and :mod:`deltaprop.optim.plateau`; this module re-exports
them.

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

from typing import Any

from deltaprop.core.registry import lookup
from deltaprop.optim.decay import (
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    StepDecay,
)
from deltaprop.optim.plateau import ReduceOnPlateau
from deltaprop.optim.schedule import Schedule, StateDict

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "InverseScaling",
    "ReduceOnPlateau",
    "Schedule",
    "StateDict",
    "StepDecay",
    "get_schedule",
    "schedule_defaults",
    "schedule_for_epochs",
]


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (Constant, StepDecay, ExponentialDecay, CosineAnnealing, InverseScaling)
}
SCHEDULES["plateau"] = ReduceOnPlateau
SCHEDULES["adaptive"] = ReduceOnPlateau  # scikit-learn's name


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
    return _schedule_class(name_or_instance)(**kwargs)


def _schedule_class(name: Any) -> type[Schedule]:
    return lookup(name, SCHEDULES, {}, "schedule", fold_case=True)


def schedule_defaults(name: str | type[Schedule], epochs: int) -> dict[str, Any]:
    """The constructor arguments a schedule takes by default for a fit of ``epochs``
    epochs (:meth:`Schedule.epoch_defaults`): ``{"step_size": max(1, epochs // 3)}`` for
    ``"step"``, ``{"gamma": 0.01 ** (1 / max(epochs, 1))}`` for ``"exponential"``,
    ``{"t_max": max(epochs, 1)}`` for ``"cosine"``, nothing for the others.

    >>> schedule_defaults("step", 30)
    {'step_size': 10}

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    cls = name if isinstance(name, type) and issubclass(name, Schedule) else _schedule_class(name)
    return cls.epoch_defaults(epochs)


def schedule_for_epochs(
    name_or_instance: str | Schedule | type[Schedule], epochs: int, **overrides: Any
) -> Schedule:
    """The schedule a name (or class) gives for a fit of ``epochs`` epochs: its
    :func:`schedule_defaults`, updated with ``overrides``. An instance is returned
    unchanged (then no ``overrides``).

    >>> schedule_for_epochs("cosine", 10)
    CosineAnnealing(t_max=10, eta_min=0.0)
    >>> schedule_for_epochs("step", 9, gamma=0.5)
    StepDecay(step_size=3, gamma=0.5)

    Raises
    ------
    ValueError
        For an unknown identifier, or ``overrides`` given with an instance.
    """
    if isinstance(name_or_instance, Schedule):
        return get_schedule(name_or_instance, **overrides)
    return get_schedule(
        name_or_instance, **{**schedule_defaults(name_or_instance, epochs), **overrides}
    )
