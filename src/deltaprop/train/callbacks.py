"""What a training run records (:class:`History`) and the hooks into its loop
(:class:`Callback`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Callback", "History", "watches_batches"]


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
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)

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
    """Hooks into the training loop; subclass and override what you need.

    Every hook receives the :class:`~deltaprop.train.trainer.Trainer` (typed ``Any`` here, so
    that the hooks do not import the loop that calls them); ``logs`` holds the current values
    (``"loss"``, ``"val_loss"``, ``"val_score"``, ``"learning_rate"`` at epoch end;
    ``"loss"``, ``"batch_size"`` at batch end). Set ``trainer.stop_training = True`` to stop
    after the current epoch.

    Examples
    --------
    >>> class StopBelow(Callback):
    ...     def on_epoch_end(self, trainer, epoch, logs):
    ...         if logs["loss"] < 0.1:
    ...             trainer.stop_training = True
    """

    def on_train_begin(self, trainer: Any) -> None:
        """Called once at the start of :meth:`~deltaprop.train.trainer.Trainer.fit`."""

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        """Called after each optimizer step (mini-batch index within the epoch)."""

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch (0-based epoch index, counted over all fits)."""

    def on_train_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        """Called once when :meth:`~deltaprop.train.trainer.Trainer.fit` ends (not after a
        divergence error)."""


def watches_batches(callbacks: Sequence[Any]) -> bool:
    """Whether a callback overrides :meth:`Callback.on_batch_end`: the compiled loop cannot
    call a batch hook, so the trainer then runs its Python loop.

    >>> watches_batches([Callback()]), watches_batches([History()])
    (False, True)
    """
    return any(
        getattr(type(cb), "on_batch_end", None) is not Callback.on_batch_end for cb in callbacks
    )
