"""The error of a training run whose loss became NaN or infinite, with what it knows as
fields, so that a caller (the command, an estimator) can word it for its own user."""

from __future__ import annotations

import math

__all__ = ["DivergenceError"]


class DivergenceError(ValueError, FloatingPointError):
    """Raised when the cost becomes NaN or infinite; the weights are the last good ones.

    Parameters
    ----------
    message : str, optional
        The whole message; by default the trainer's, built by :meth:`describe` from the
        fields.
    epoch : int, optional
        The epoch (1-based) whose loss became non-finite; ``None`` where the error does not
        come from a training epoch (then the message must be given).
    loss : float, default=nan
        The non-finite loss.
    learning_rate : float, optional
        The learning rate in use when it happened.
    preface : str, default=""
        Words put before the trainer's message (an estimator's own wording, first).

    Examples
    --------
    >>> exc = DivergenceError(epoch=3, loss=float("inf"), learning_rate=10.0)
    >>> str(exc).split(".")[0]
    'Training diverged in epoch 3: the loss became inf'
    >>> exc.describe(learning_rate_name="--learning-rate").split(". ")[-1]
    'Try a smaller --learning-rate (it was 10), gradient clipping (clip_norm), or scaling the inputs.'
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        epoch: int | None = None,
        loss: float = math.nan,
        learning_rate: float | None = None,
        preface: str = "",
    ) -> None:
        self.epoch = epoch
        self.loss = loss
        self.learning_rate = learning_rate
        self.preface = preface
        super().__init__(self.describe() if message is None else message)

    def describe(self, *, learning_rate_name: str = "learning rate") -> str:
        """The trainer's message, naming the learning rate as ``learning_rate_name`` (the
        command: ``"--learning-rate"``); an error built with its own message returns it.
        """
        if self.epoch is None:
            return str(self)
        rate = "" if self.learning_rate is None else f" (it was {self.learning_rate:g})"
        text = (
            f"Training diverged in epoch {self.epoch}: the loss became {self.loss}. The weights "
            f"of the last finite epoch were kept. Try a smaller {learning_rate_name}{rate}, "
            "gradient clipping (clip_norm), or scaling the inputs."
        )
        return f"{self.preface} {text}" if self.preface else text

    def prefaced(self, preface: str) -> DivergenceError:
        """This error (the same fields) with ``preface`` before its message: what an
        estimator raises in its own words without losing the fields."""
        message = f"{preface} {self}" if self.epoch is None else None
        return DivergenceError(
            message,
            epoch=self.epoch,
            loss=self.loss,
            learning_rate=self.learning_rate,
            preface=preface,
        )
