"""The error of a training run whose loss diverged (NaN, infinite, or exploding: see
:mod:`deltaprop.train.stopping`), with what it knows as fields, so that a caller (the
command, an estimator) can word it for its own user."""

from __future__ import annotations

import math

__all__ = ["DivergenceError"]


class DivergenceError(ValueError, FloatingPointError):
    """Raised when the loss diverges; the weights are those of the last good epoch.

    Parameters
    ----------
    message : str, optional
        The whole message; by default the trainer's, built by :meth:`describe` from the
        fields.
    epoch : int, optional
        The epoch (1-based) whose loss became non-finite; ``None`` where the error does not
        come from a training epoch (then the message must be given).
    loss : float, default=nan
        The diverged loss (non-finite, or above ``threshold``).
    learning_rate : float, optional
        The learning rate in use when it happened.
    preface : str, default=""
        Words put before the trainer's message (an estimator's own wording, first).
    baselines : (float, float), optional
        For a finite loss that exploded: the loss of the starting weights and a constant
        predictor's; ``threshold`` is ``factor`` times the larger.
    factor : float, optional
        The divergence factor in force.
    learning_rate_name, clip_name : str or None
        The defaults of :meth:`describe`'s arguments of those names.

    Examples
    --------
    >>> exc = DivergenceError(epoch=3, loss=float("inf"), learning_rate=10.0)
    >>> str(exc).split(".")[0]
    'Training diverged in epoch 3: the loss became inf'
    >>> exc.describe(learning_rate_name="--learning-rate").split(". ")[-1]
    'Try a smaller --learning-rate (it was 10), gradient clipping (clip_norm), or scaling the inputs.'
    >>> exc.describe(learning_rate_name="--learning-rate", clip_name=None).split(". ")[-1]
    'Try a smaller --learning-rate (it was 10) or scaling the inputs.'
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        epoch: int | None = None,
        loss: float = math.nan,
        learning_rate: float | None = None,
        preface: str = "",
        baselines: tuple[float, float] | None = None,
        factor: float | None = None,
        learning_rate_name: str = "learning rate",
        clip_name: str | None = "clip_norm",
    ) -> None:
        self.epoch = epoch
        self.loss = loss
        self.learning_rate = learning_rate
        self.preface = preface
        self.baselines = baselines
        self.factor = factor
        self.learning_rate_name = learning_rate_name
        self.clip_name = clip_name
        super().__init__(self.describe() if message is None else message)

    @property
    def threshold(self) -> float | None:
        """The loss above which the run counted as diverged (``None`` for a non-finite loss)."""
        if self.baselines is None or self.factor is None:
            return None
        return self.factor * max(self.baselines)

    def describe(
        self, *, learning_rate_name: str | None = None, clip_name: str | object | None = ...
    ) -> str:
        """The trainer's message, naming the learning rate as ``learning_rate_name`` (the
        command: ``"--learning-rate"``) and the clipping option as ``clip_name`` (``None``
        where there is none: the suggestion is left out); both default to the error's
        fields of those names. An error built with its own message returns it.
        """
        if self.epoch is None:
            return str(self)
        lr_name = self.learning_rate_name if learning_rate_name is None else learning_rate_name
        clip = self.clip_name if clip_name is ... else clip_name
        rate = "" if self.learning_rate is None else f" (it was {self.learning_rate:g})"
        kept = "finite epoch" if self.threshold is None else "epoch below that"
        what = f"{self.what_happened()}. The weights of the last {kept}"
        advice = (
            f"Try a smaller {lr_name}{rate}, gradient clipping ({clip}), or scaling the inputs."
            if clip is not None
            else f"Try a smaller {lr_name}{rate} or scaling the inputs."
        )
        text = f"Training diverged in epoch {self.epoch}: {what} were kept. {advice}"
        return f"{self.preface} {text}" if self.preface else text

    def what_happened(self) -> str:
        """How the loss diverged: ``"the loss became nan"``, or ``"the loss reached 3e+92,
        more than 100 times the larger of the starting loss (2.9) and a constant
        predictor's (2.3)"``."""
        if self.threshold is None:
            return f"the loss became {self.loss}"
        start, constant = self.baselines or (math.nan, math.nan)
        return (
            f"the loss reached {self.loss:.4g}, more than {self.factor:g} times the larger "
            f"of the starting loss ({start:.4g}) and a constant predictor's ({constant:.4g})"
        )

    def prefaced(
        self, preface: str, *, learning_rate_name: str | None = None,
        clip_name: str | object | None = ...,
    ) -> DivergenceError:  # fmt: skip
        """This error (the same fields) with ``preface`` before its message, and the names
        its message uses (by default this error's): what an estimator raises in its own
        words without losing the fields."""
        message = f"{preface} {self}" if self.epoch is None else None
        return DivergenceError(
            message,
            epoch=self.epoch,
            loss=self.loss,
            learning_rate=self.learning_rate,
            preface=preface,
            baselines=self.baselines,
            factor=self.factor,
            learning_rate_name=(
                self.learning_rate_name if learning_rate_name is None else learning_rate_name
            ),
            clip_name=self.clip_name if clip_name is ... else clip_name,  # type: ignore[arg-type]
        )
