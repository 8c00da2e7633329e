"""What a training run records (:class:`History`) and the hooks into its loop
(:class:`Callback`)."""

from __future__ import annotations

import inspect
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deltaprop.train.stopping import StopRecord

__all__ = [
    "HOOKS",
    "Callback",
    "History",
    "StopOnInterrupt",
    "as_callbacks",
    "check_callbacks",
    "stop_at_interrupt",
    "watches_batches",
    "watches_progress",
]

HOOKS = {
    "on_train_begin": "(trainer, logs=None)",
    "on_epoch_begin": "(trainer, epoch, logs=None)",
    "on_epoch_progress": "(trainer, epoch, logs=None)",
    "on_batch_begin": "(trainer, batch, logs=None)",
    "on_batch_end": "(trainer, batch, logs=None)",
    "on_epoch_end": "(trainer, epoch, logs=None)",
    "on_train_end": "(trainer, logs=None)",
    "on_exception": "(trainer, logs=None)",
}
"""Every hook of :class:`Callback` and the arguments the trainer passes it (positionally)."""


@dataclass
class History:
    """What a :class:`~deltaprop.train.trainer.Trainer` records, one entry per epoch.

    Attributes
    ----------
    loss : list of float
        Training objective per epoch (the sample-weighted mean of the mini-batch costs,
        L2 term included).
    val_loss, val_score : list of float
        Validation loss (no L2 term) and score (accuracy for classification, R² for
        regression, or the ``score`` callable), empty without validation data.
    learning_rate : list of float
        The learning rate used in each epoch.
    grad_norms : list of list of float
        ``‖dW[l]‖_F`` per epoch and layer, averaged over the epoch's mini-batches: the
        diagnostic for vanishing and exploding gradients.
    stop : StopRecord or None
        Why the latest fit stopped (:class:`~deltaprop.train.stopping.StopRecord`);
        ``None`` before one ends. Not kept in :meth:`as_dict`.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)
    stop: StopRecord | None = None

    @property
    def stop_reason(self) -> str | None:
        """One of :data:`~deltaprop.train.stopping.STOP_REASONS`, or ``None`` before a fit ends."""
        return None if self.stop is None else self.stop.reason

    @property
    def stop_message(self) -> str | None:
        """The exact sentence: the reason, the epoch and the counts."""
        return None if self.stop is None else self.stop.message

    @property
    def best_epoch(self) -> int | None:
        """The epoch (1-based) whose weights the network was left with when they are not the
        last epoch's (early stopping restored them, or a divergence kept them)."""
        return None if self.stop is None else self.stop.best_epoch

    @property
    def history(self) -> dict[str, list[float]]:
        """Keras's ``History.history``: each recorded per-epoch value by name (``"loss"``,
        ``"val_loss"``, ``"val_score"``, ``"learning_rate"``; those with entries), so that
        ``pandas.DataFrame(h.history)`` or ``plt.plot(h.history["loss"])`` work as there."""
        return {k: v for k, v in self.as_dict().items() if v and k != "grad_norms"}

    @property
    def epoch(self) -> list[int]:
        """Keras's ``History.epoch``: the 0-based index of each recorded epoch."""
        return list(range(len(self.loss)))

    def as_dict(self) -> dict[str, Any]:
        """Plain lists, for JSON."""
        return {
            "loss": list(self.loss),
            "val_loss": list(self.val_loss),
            "val_score": list(self.val_score),
            "learning_rate": list(self.learning_rate),
            "grad_norms": [list(g) for g in self.grad_norms],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`as_dict`."""
        return cls(
            loss=[float(v) for v in d.get("loss", [])],
            val_loss=[float(v) for v in d.get("val_loss", [])],
            val_score=[float(v) for v in d.get("val_score", [])],
            learning_rate=[float(v) for v in d.get("learning_rate", [])],
            grad_norms=[[float(x) for x in g] for g in d.get("grad_norms", [])],
        )


class Callback:
    """Hooks into the training loop (Keras's set); subclass and override what you need.

    Every hook receives the :class:`~deltaprop.train.trainer.Trainer` first (typed ``Any``
    here, so that the hooks do not import the loop that calls them) and ``logs`` last, a dict
    of the current values (``None`` allowed, as in Keras): at epoch end ``"loss"``,
    ``"learning_rate"`` and, with validation data, ``"val_loss"``, ``"val_score"``; at
    epoch begin ``"learning_rate"``; at batch begin ``"batch_size"``, at batch end
    ``"loss"`` and ``"batch_size"``; at train begin ``"epoch"`` (epochs done before this
    fit) and ``"epochs"``; at train end ``"epochs"``, ``"converged"``, ``"stop_reason"`` and
    ``"stop_message"``; in a long epoch, :meth:`on_epoch_progress` gets ``"samples"`` (done
    in the epoch so far) and ``"samples_total"``. :meth:`~deltaprop.train.trainer.Trainer.fit` checks, before it
    trains, that every hook accepts these arguments (:func:`check_callbacks`). Set
    ``trainer.stop_training = True`` to stop after the current epoch.

    A batch hook (:meth:`on_batch_begin`, :meth:`on_batch_end`) makes the trainer run its
    Python loop instead of the compiled one.

    Examples
    --------
    >>> class StopBelow(Callback):
    ...     def on_epoch_end(self, trainer, epoch, logs=None):
    ...         if logs["loss"] < 0.1:
    ...             trainer.stop_training = True
    """

    @property
    def stop_source(self) -> str:
        """Who set ``trainer.stop_training``, as the stop message names it: the class's
        name (an adapter that calls other callbacks names those)."""
        return type(self).__name__

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Called once at the start of :meth:`~deltaprop.train.trainer.Trainer.fit`."""

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each epoch (0-based epoch index, counted over all fits)."""

    def on_epoch_progress(
        self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None
    ) -> None:
        """Called inside a long epoch, for a progress display (not a Keras hook): after every
        mini-batch of the Python loop; the compiled loop, which cannot call Python between
        its steps, runs an epoch of at least :data:`~deltaprop.train.progress.PROGRESS_BATCHES`
        batches in :data:`~deltaprop.train.progress.PROGRESS_PARTS` calls and reports between
        them (without this hook, in one call). ``logs``: ``"samples"`` done in the epoch so
        far, ``"samples_total"``."""

    def on_batch_begin(self, trainer: Any, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each optimizer step (mini-batch index within the epoch)."""

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each optimizer step (mini-batch index within the epoch)."""

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each epoch (0-based epoch index, counted over all fits)."""

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Called once when :meth:`~deltaprop.train.trainer.Trainer.fit` ends (not after a
        divergence error or an interruption)."""

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Called once instead of :meth:`on_train_end` when the fit ends by an exception (a
        divergence, an interruption, a callback's error; ``logs["exception"]``), before it
        propagates or, for an interruption that :class:`StopOnInterrupt` stops at, the fit
        returns: to release what :meth:`on_train_begin` took (a display, a signal handler).
        Lightning's hook of the name; Keras has none."""


class StopOnInterrupt(Callback):
    """Make Ctrl-C (``KeyboardInterrupt``) during a fit a stop instead of an error.

    Without it, :meth:`~deltaprop.train.trainer.Trainer.fit` records the stop reason
    ``"interrupted"`` and re-raises. With it in the callbacks, once at least one epoch has
    been recorded, the fit puts back the weights of the last complete epoch (the best ones
    so far with ``early_stopping``), records ``"interrupted"`` and returns its history as
    for a normal end, so that the caller can save the model. ``on_train_end`` is not called
    (a :class:`~deltaprop.train.checkpoint.Checkpoint` does not mark its file finished, so
    that the run can be resumed from it). An interrupt before the first epoch ends is
    re-raised: there is nothing to keep.

    Examples
    --------
    >>> import numpy as np
    >>> from deltaprop import Network, Trainer
    >>> class CtrlC(Callback):
    ...     def on_epoch_end(self, trainer, epoch, logs=None):
    ...         if epoch == 2:
    ...             raise KeyboardInterrupt
    >>> net = Network([2, 3, 1], "tanh", "bce", seed=0)
    >>> t = Trainer(net, epochs=10, seed=0, callbacks=[CtrlC(), StopOnInterrupt()])
    >>> h = t.fit(np.eye(2), [0.0, 1.0])
    >>> h.stop_reason, len(h.loss)
    ('interrupted', 3)

    During the fit it also notes every SIGINT that reaches Python (it wraps the main
    thread's handler, which still raises ``KeyboardInterrupt``): an interrupt that Python
    swallows, raised inside a finalizer or ``__del__`` ("Exception ignored in ..."), stops
    the fit at the end of that epoch instead of being lost.
    """

    def __init__(self) -> None:
        self._signalled = False
        self._previous: Any = None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self._signalled = False
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous) or self._previous is not None:
            return

        def noted(signum: int, frame: Any) -> None:
            self._signalled = True
            previous(signum, frame)

        self._previous = previous
        signal.signal(signal.SIGINT, noted)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._signalled:  # its KeyboardInterrupt was swallowed somewhere: stop here
            self._signalled = False
            raise KeyboardInterrupt

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.restore_handler()

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.restore_handler()

    def restore_handler(self) -> None:
        """Put back the SIGINT handler that was there when the fit began."""
        if self._previous is not None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def stop_at_interrupt(
    trainer: Any, callbacks: Sequence[Any], error: BaseException
) -> tuple[BaseException, bool]:
    """The error that ended ``trainer``'s fit, and whether the fit is to return instead.

    For a ``KeyboardInterrupt``, record the interruption; the fit returns when a
    :class:`StopOnInterrupt` is among ``callbacks`` and an epoch was recorded, after
    putting back the last complete epoch's weights (the best so far with early stopping),
    and its optimizer state, generator and samples seen (a fit that goes on continues as
    if the interrupted epoch had never begun).
    The history keeps the ``trainer.epoch`` complete epochs (an epoch interrupted while it
    was being recorded is dropped from every curve).

    An ``Exception`` raised while a :class:`StopOnInterrupt` had noted a SIGINT is that
    interrupt (a ``KeyboardInterrupt`` comes back in its place): the signal's
    ``KeyboardInterrupt``, raised inside compiled code, comes out as that code's own error
    (numba unboxing a typed list: ``TypeError: can't unbox ...``).
    """
    stoppers = [cb for cb in callbacks if isinstance(cb, StopOnInterrupt)]
    if isinstance(error, Exception) and any(cb._signalled for cb in stoppers):
        error = KeyboardInterrupt()
    if not isinstance(error, KeyboardInterrupt):
        return error, False
    h = trainer.history
    for curve in (h.loss, h.val_loss, h.val_score, h.learning_rate, h.grad_norms):
        del curve[trainer.epoch :]  # an epoch interrupted while it was being recorded
    for cb in stoppers:
        cb.restore_handler()
    keep = bool(stoppers) and len(h.loss) > 0
    best = None
    if keep:
        last = getattr(trainer, "last_complete", None)  # the SGD loop's, updated each epoch
        if last is not None:
            trainer.net.parameters[...] = last[0]
            trainer.net.set_buffers(last[1])
            optimizer, trainer.rng.bit_generator.state, trainer.samples_seen = trainer.last_state
            trainer.optimizer.load_state_dict(optimizer)  # as that epoch left them
        if trainer.early_stopping and trainer.restore_best() and trainer.best_epoch is not None:
            best = trainer.best_epoch + 1
    h.stop = StopRecord("interrupted", trainer.epoch + 1, best_epoch=best)
    return error, keep


def check_callbacks(callbacks: Sequence[Any]) -> None:
    """Raise ``TypeError`` before training if a callback's hook cannot take the arguments
    the trainer passes (:data:`HOOKS`), naming the callback, the hook and both signatures.

    >>> class Old(Callback):
    ...     def on_train_end(self, trainer):
    ...         pass
    >>> check_callbacks([Old()])
    Traceback (most recent call last):
    ...
    TypeError: Old.on_train_end must accept (trainer, logs=None), as every Callback hook does. Received: on_train_end(trainer)
    """
    probe: dict[str, tuple[Any, ...]] = {
        "on_train_begin": (None, {}), "on_epoch_begin": (None, 0, {}),
        "on_epoch_progress": (None, 0, {}),
        "on_batch_begin": (None, 0, {}), "on_batch_end": (None, 0, {}),
        "on_epoch_end": (None, 0, {}), "on_train_end": (None, {}),
    }  # fmt: skip
    for cb in callbacks:
        for hook, args in probe.items():
            method = getattr(cb, hook, None)
            if method is None or _inherited(cb, hook):
                continue
            if not callable(method):
                raise TypeError(
                    f"{type(cb).__name__}.{hook} must be a method. Received: {method!r}"
                )
            try:
                sig = inspect.signature(method)
            except (TypeError, ValueError):  # a builtin without a signature: trust it
                continue
            try:
                sig.bind(*args)
            except TypeError:
                raise TypeError(
                    f"{type(cb).__name__}.{hook} must accept {HOOKS[hook]}, as every Callback "
                    f"hook does. Received: {hook}{sig}"
                ) from None


def _inherited(cb: Any, hook: str) -> bool:
    """Whether ``cb``'s ``hook`` is :class:`Callback`'s own (it takes the arguments): most
    callbacks override one or two hooks, and signatures are slow to read (0.4 ms a fit)."""
    return hook not in getattr(cb, "__dict__", {}) and getattr(type(cb), hook, None) is getattr(
        Callback, hook
    )


class _DuckTyped(Callback):
    """A duck-typed callback as a :class:`Callback`: its own hooks are forwarded to
    (:func:`as_callbacks` makes a subclass per object with just those), the others are the
    base class's, which do nothing."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback

    @property
    def stop_source(self) -> str:
        return type(self.callback).__name__


def _forward(hook: str) -> Any:
    def forwarded(self: _DuckTyped, *args: Any) -> Any:
        return getattr(self.callback, hook)(*args)

    forwarded.__name__ = hook
    return forwarded


def as_callbacks(callbacks: Sequence[Any]) -> list[Callback]:
    """``callbacks`` as :class:`Callback` objects, for the loop to call every hook of.

    A :class:`Callback` is kept as it is. Another object that defines some of the hooks
    (:data:`HOOKS`) is wrapped so that only those are called (and only its batch hooks
    make the compiled loop run a batch per call, :func:`watches_batches`); the stop message
    names its class. Every hook's signature is checked first (:func:`check_callbacks`).

    Raises
    ------
    TypeError
        For a hook that cannot take the trainer's arguments; a scikit-learn callback
        (``sklearn.callback``'s, with ``on_fit_task_end``), which goes to an estimator's
        ``set_callbacks``; an object with none of the hooks (a function, a class instead of
        an instance, a string, ...). Each names its position.

    Examples
    --------
    >>> class Plain:
    ...     def on_epoch_end(self, trainer, epoch, logs=None):
    ...         print("epoch", epoch)
    >>> (cb,) = as_callbacks([Plain()])
    >>> cb.on_train_begin(None); cb.on_epoch_end(None, 0)
    epoch 0
    >>> type(cb).__name__, cb.stop_source, watches_batches([cb])
    ('Plain', 'Plain', False)
    """
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback) and hasattr(cb, "on_fit_task_end"):
            raise TypeError(
                f"callbacks[{i}] is a scikit-learn callback ({type(cb).__name__}), not a "
                "deltaprop.train.Callback: register it on an estimator with "
                f"set_callbacks, e.g. MLPClassifier(...).set_callbacks({type(cb).__name__}(...))."
                f" Received: callbacks[{i}]={cb!r}"
            )
    check_callbacks(callbacks)
    out: list[Callback] = []
    for i, cb in enumerate(callbacks):
        if isinstance(cb, Callback):
            out.append(cb)
            continue
        hooks = [hook for hook in HOOKS if callable(getattr(cb, hook, None))]
        if isinstance(cb, type) or not hooks:
            raise TypeError(
                f"callbacks[{i}] is not a callback: it defines none of the hooks "
                f"({', '.join(HOOKS)}) as an instance's methods; subclass deltaprop.Callback "
                f"and pass an instance. Received: callbacks[{i}]={cb!r}"
            )
        name = type(cb).__name__
        kind = type(name, (_DuckTyped,), {hook: _forward(hook) for hook in hooks})
        out.append(kind(cb))
    return out


def watches_batches(callbacks: Sequence[Any]) -> bool:
    """Whether a callback overrides :meth:`Callback.on_batch_begin` or
    :meth:`Callback.on_batch_end`: then the trainer runs the compiled loop one batch per
    call, calling the hooks between calls.

    >>> watches_batches([Callback()]), watches_batches([History()])
    (False, True)
    """
    return any(
        getattr(type(cb), hook, None) is not getattr(Callback, hook)
        for cb in callbacks
        for hook in ("on_batch_begin", "on_batch_end")
    )


def watches_progress(callbacks: Sequence[Any]) -> list[Any]:
    """The callbacks that override :meth:`Callback.on_epoch_progress` (or, not being a
    :class:`Callback`, define it).

    >>> class Bar(Callback):
    ...     def on_epoch_progress(self, trainer, epoch, logs=None):
    ...         pass
    >>> [type(cb).__name__ for cb in watches_progress([Callback(), Bar()])]
    ['Bar']
    """
    return [
        cb
        for cb in callbacks
        if getattr(type(cb), "on_epoch_progress", None) not in (None, Callback.on_epoch_progress)
    ]
