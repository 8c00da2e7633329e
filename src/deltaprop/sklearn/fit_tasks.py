"""scikit-learn's callbacks (SLEP023, ``sklearn.callback``) on the estimators.

``est.set_callbacks(ProgressBar(), ScoringMonitor(scoring="accuracy"))`` (the method of
:class:`sklearn.callback.CallbackSupportMixin`) registers them; each :meth:`fit` or
:meth:`partial_fit` call is then one *fit task* whose subtasks are the epochs (the
iterations for ``solver="lbfgs"``), as scikit-learn's own iterative estimators report them:

- the fit task begins (``on_fit_task_begin``) once the data are checked, with the training
  ``X``, ``y`` (the labels as given) and ``metadata={"sample_weight": ...}`` when weights
  are given;
- every epoch is a leaf subtask (``task_name="epoch"``) begun before its first mini-batch
  and ended after its validation, with a ``fitted_estimator`` that predicts with the
  weights of that moment (a copy of the network, made only for a hook that asks for it);
- a hook of ``on_fit_task_end`` that returns ``True`` stops the fit after that epoch
  (``stop_reason_ == "callback"``), as any of our own callbacks can;
- the fit task ends after the fitted attributes are set.

Mini-batches are not subtasks: the compiled loop runs a whole epoch at a time, and a task
per step would cost a Python round trip per batch. Without ``set_callbacks`` nothing here
runs. The estimators' own ``callbacks=`` parameter (``deltaprop.train.Callback`` objects)
works beside them; a scikit-learn callback given there is refused with a ``TypeError``
that points to ``set_callbacks``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from deltaprop.train import Callback, Trainer

__all__ = ["ScikitLearnCallbacks", "fit_task"]


class ScikitLearnCallbacks(Callback):
    """Our loop's hooks calling the estimator's scikit-learn callbacks, an epoch a subtask.

    Parameters
    ----------
    estimator : BaseMLP
        The estimator being fitted (its ``network_`` holds the current weights).
    context : sklearn.callback.CallbackContext
        The context of the fit task.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    metadata : dict or None
        ``{"sample_weight": ...}`` or ``None``.
    """

    def __init__(self, estimator: Any, context: Any, X: Any, y: Any, metadata: Any) -> None:
        self.estimator = estimator
        self.context = context
        self.data = {"X": X, "y": y, "metadata": metadata}
        self.task: Any = None  # the epoch begun and not yet ended

    @property
    def stop_source(self) -> str:
        """The class of the estimator's scikit-learn callback that asked to stop, for the stop
        message (not this adapter's): scikit-learn's own (``ProgressBar``,
        ``ScoringMonitor``) never do, so the others are named; several as "A or B", as
        scikit-learn reports only that one of them returned True."""
        callbacks = list(getattr(self.estimator, "_skl_callbacks", []))
        own = [cb for cb in callbacks if not type(cb).__module__.startswith("sklearn.")]
        names = dict.fromkeys(type(cb).__name__ for cb in own or callbacks)
        return " or ".join(names) or "a scikit-learn callback"

    def _fitted(self) -> dict[str, Any]:
        """The attributes that make a copy of the estimator predict as it would now."""
        return {"network_": copy.deepcopy(self.estimator.network_)}

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.task = self.context.subcontext(task_name="epoch")
        self.task.call_on_fit_task_begin(
            estimator=self.estimator, reconstruction_attributes=self._fitted, **self.data
        )

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        task, self.task = self.task, None
        if task.call_on_fit_task_end(
            estimator=self.estimator, reconstruction_attributes=self._fitted, **self.data
        ):
            trainer.stop_training = True

    def close(self) -> None:
        """End an epoch that an error interrupted: an empty task, so that every begin has
        its end."""
        if self.task is not None:
            task, self.task = self.task, None
            task.call_on_fit_task_end(estimator=self.estimator)


@contextmanager
def fit_task(
    estimator: Any, trainer: Trainer, X: Any, y: Any, sample_weight: Any
) -> Iterator[None]:
    """Run the body (the trainer's fit and the fitted attributes) as the estimator's fit
    task of its scikit-learn callbacks; nothing at all without ``set_callbacks``.

    Parameters
    ----------
    estimator : BaseMLP
    trainer : Trainer
        Its ``epochs`` is the number of epochs this call may run (the subtasks' maximum).
    X : array-like of shape (n_samples, n_features)
        The training data as checked.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The training labels or targets as given (the scorers compare predictions to them).
    sample_weight : ndarray of shape (n_samples,) or None
    """
    if not getattr(estimator, "_skl_callbacks", None):
        yield
        return
    context = estimator._init_callback_context(max_subtasks=trainer.epochs)
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
    bridge = ScikitLearnCallbacks(estimator, context, X, y, metadata)
    trainer.callbacks.append(bridge)
    try:
        yield
    finally:
        trainer.callbacks.remove(bridge)
        bridge.close()
    context.call_on_fit_task_end(
        estimator=estimator, X=X, y=y, metadata=metadata, reconstruction_attributes={}
    )
