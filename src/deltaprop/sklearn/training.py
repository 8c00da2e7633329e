"""What an estimator's parameters build: the network, the optimizer, the schedule, the trainer.

:class:`TrainingParts` is the first base of :class:`~deltaprop.sklearn.base.BaseMLP`; it
reads the hyper-parameters (public attributes) and the subclasses' hooks
(``_loss_and_output``, ``_score_fn``, ``_class_weight``).
"""

from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from deltaprop.core import Network, ParameterMemoryError
from deltaprop.core.initializers import draw_sklearn_uniform, sklearn_factor
from deltaprop.optim import (
    LBFGS,
    SGD,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    Schedule,
    schedule_for_epochs,
)
from deltaprop.sklearn.params import (
    SKLEARN_SCHEDULES,
    check_hidden_activations,
    check_hidden_sizes,
)
from deltaprop.train import (
    StopOnInterrupt,
    Trainer,
    VerboseLines,
    effective_batch_size,
)

__all__ = [
    "EstimatorStop", "TrainingParts", "forget_fit", "interrupted_here", "interrupts_raise",
]  # fmt: skip

_STOP_AT_INTERRUPT: ContextVar[bool] = ContextVar("deltaprop_stop_at_interrupt", default=True)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Within it, the estimators built no :class:`EstimatorStop`: Ctrl-C raises
    ``KeyboardInterrupt`` out of their fits unless their callbacks hold a
    ``StopOnInterrupt`` (a program whose own Ctrl-C ends it, as ``deltaprop``'s command).
    """
    token = _STOP_AT_INTERRUPT.set(False)
    try:
        yield
    finally:
        _STOP_AT_INTERRUPT.reset(token)


INTERRUPTED = "Training interrupted by user."
"""scikit-learn's ``MLPClassifier.fit`` warning (a ``UserWarning``) for a fit ended by Ctrl-C."""


class EstimatorStop(StopOnInterrupt):
    """The estimators' own Ctrl-C stop, as scikit-learn's MLP: the fit returns the model of
    the last complete epoch (:class:`~deltaprop.train.StopOnInterrupt`) and warns
    (:data:`INTERRUPTED`). Added, last, to a one-process fit whose callbacks hold no
    ``StopOnInterrupt`` (a caller's own one reports the interrupt its way). It notes the
    samples seen when each epoch begins, so that ``t_`` counts complete epochs only.
    """

    epoch, samples_seen = -1, 0

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch, self.samples_seen = epoch, trainer.samples_seen

    def samples_of_complete_epochs(self, trainer: Any) -> int:
        """``trainer.samples_seen`` of its complete epochs (after an interrupt)."""
        if trainer.epoch > self.epoch:  # the last epoch begun was recorded: all its rows
            return int(trainer.samples_seen)
        return int(self.samples_seen)


def interrupted_here(trainer: Trainer) -> None:
    """After a fit that returned: if :class:`EstimatorStop` ended it at a Ctrl-C, count the
    samples of complete epochs only (``t_``) and warn as scikit-learn (``UserWarning``)."""
    stop = trainer.history.stop
    own = [cb for cb in trainer.callbacks if isinstance(cb, EstimatorStop)]
    if stop is None or stop.reason != "interrupted" or not own:
        return
    trainer.samples_seen = own[0].samples_of_complete_epochs(trainer)
    warnings.warn(INTERRUPTED, UserWarning, stacklevel=5)


def forget_fit(est: Any, user_weights: dict[str, Any]) -> None:
    """Leave ``est`` unfitted (a fresh fit interrupted before its first epoch ended): every
    fitted attribute removed, the weights assigned before the fit put back."""
    for name in [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]:
        delattr(est, name)
    est.__dict__.pop("_trainer", None)
    est.__dict__.update(user_weights)


class TrainingParts(BaseEstimator):
    """Builders of the training objects from the estimator's parameters."""

    # ------------------------------------------------------------------ hooks for subclasses
    def _loss_and_output(self, n_outputs: int) -> tuple[str, str]:
        raise NotImplementedError

    def _class_weight(self) -> Any:
        return None

    def _score_fn(self) -> Any:
        return None

    # ------------------------------------------------------------------ building blocks
    def _hidden_sizes(self) -> list[int]:
        return check_hidden_sizes(self.hidden_layer_sizes)

    def _hidden_activations(self, n_hidden: int) -> list[str]:
        return check_hidden_activations(self.activation, n_hidden)

    def _batch_size(self, n_samples: int, warn: bool = True) -> int:
        """scikit-learn's ``"auto"`` is ``min(200, n_samples)``; a size is clipped to
        ``[1, n_samples]`` (:func:`~deltaprop.train.batches.effective_batch_size`)."""
        if self.batch_size == "auto":
            return effective_batch_size(200, n_samples)
        if warn and int(self.batch_size) > n_samples and self.solver != "lbfgs":
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                stacklevel=3,
            )
        return effective_batch_size(self.batch_size, n_samples)

    def _early_stops(self, incremental: bool = False) -> bool:
        """Whether this fit holds out ``validation_fraction`` and stops on it: as in
        scikit-learn, ``early_stopping`` is "only effective when solver='sgd' or 'adam'"
        (the stochastic solvers here): ``"lbfgs"`` trains on every row and keeps its last
        iterate, and ``partial_fit`` refuses it."""
        return bool(self.early_stopping) and not incremental and self.solver != "lbfgs"

    def _check_validation_rows(self, incremental: bool, given: bool) -> None:
        """``validation_fraction=0.0`` is accepted (scikit-learn's ``[0, 1)``) but leaves
        early stopping nothing to score, unless a validation set is ``given``."""
        if self._early_stops(incremental) and not given and self.validation_fraction == 0:
            raise ValueError(
                "early_stopping=True needs validation rows, but validation_fraction=0.0 holds "
                "out none: set validation_fraction in (0, 1), pass X_val and y_val, or set "
                "early_stopping=False. Received: early_stopping=True, validation_fraction=0.0"
            )

    def _communicator(self) -> Any:
        """The MPI communicator when ``distributed`` asks for one and a launcher runs us."""
        if self.distributed is False:
            return None
        from deltaprop.parallel import get_communicator

        return get_communicator("auto" if self.distributed == "auto" else True)

    def _seed(self, comm: Any) -> int:
        """A seed from ``random_state``; under MPI every rank gets rank 0's."""
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if comm is None:
            return seed
        from deltaprop.parallel import shared_seed

        return int(shared_seed(seed, comm))

    def _make_network(
        self, n_features: int, n_outputs: int, dtype: np.dtype[Any], comm: Any = None
    ) -> Network:
        hidden = self._hidden_sizes()
        loss, out = self._loss_and_output(n_outputs)
        acts = [*self._hidden_activations(len(hidden)), out]
        state = self.random_state
        if isinstance(state, np.random.RandomState):  # its draws as they stand, before _seed's
            state = np.random.RandomState()
            state.set_state(self.random_state.get_state())
        seed = self._seed(comm)
        try:
            net = Network(
                [n_features, *hidden, n_outputs],
                acts,
                loss,
                seed=int(seed),
                dtype=dtype,
                init=self.init,
                dropout=self.dropout if hidden else 0.0,
                batch_norm=self.batch_norm if hidden else False,
            )
        except ParameterMemoryError as exc:  # in the estimator's words
            raise ParameterMemoryError(
                "hidden_layer_sizes", self.hidden_layer_sizes, exc.n_params, exc.nbytes, exc.why
            ) from None
        if self.init == "sklearn_uniform":  # weights and biases as scikit-learn draws them:
            # an integer random_state or a RandomState draws scikit-learn's very bits (its
            # RandomState, its order; scikit-learn draws them first from the instance too)
            exact = isinstance(state, numbers.Integral) and not isinstance(state, bool)
            rng = state if isinstance(state, np.random.RandomState) else np.random.RandomState(
                int(state) if exact else seed)  # fmt: skip
            factor = sklearn_factor(acts[:-1])
            draw_sklearn_uniform(rng, net.weights, list(net.biases), factor)
        return net

    def _make_optimizer(self) -> Optimizer | LBFGS:
        """SGD, Adam and AdamW in the ``optimizer_style`` form: by default ``"keras"``,
        scikit-learn's (its ``SGDOptimizer``'s velocity, its ``AdamOptimizer``'s ``epsilon``;
        AdamW, which it lacks, Keras's, the same Adam step)."""
        lr = self.learning_rate_init
        if self.solver == "sgd":
            return SGD(learning_rate=lr, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
                       style=self.optimizer_style)  # fmt: skip
        if self.solver == "adam":
            return Adam(learning_rate=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                        epsilon=self.epsilon, style=self.optimizer_style)  # fmt: skip
        if self.solver == "adamw":
            return AdamW(learning_rate=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                         epsilon=self.epsilon, weight_decay=self.weight_decay,
                         style=self.optimizer_style)  # fmt: skip
        if self.solver == "rmsprop":
            return RMSprop(learning_rate=lr, rho=self.beta_2, epsilon=self.epsilon,
                           momentum=self.momentum if self.nesterovs_momentum is False else 0.0)  # fmt: skip
        return LBFGS(max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol)

    def _make_schedule(self) -> Schedule:
        """As in scikit-learn, its schedules (``"constant"``, ``"invscaling"``,
        ``"adaptive"``) drive the ``"sgd"`` solver only; ``"step"``, ``"exponential"`` and
        ``"cosine"``, which scikit-learn lacks, drive every stochastic solver.

        ``"invscaling"`` takes ``power_t``, ``"adaptive"`` (scikit-learn's plateau rule)
        ``patience=n_iter_no_change`` and ``tol``; ``"step"``, ``"exponential"`` and
        ``"cosine"`` take their defaults for a fit of ``max_iter`` epochs
        (:func:`~deltaprop.optim.schedules.schedule_for_epochs`).
        """
        sgd_only = self.solver != "sgd" and self.learning_rate in SKLEARN_SCHEDULES
        name = "constant" if sgd_only else self.learning_rate
        overrides: dict[str, Any] = {}
        if name == "invscaling":
            overrides = {"power_t": self.power_t}
        elif name == "adaptive":
            patience = self.n_iter_no_change if np.isfinite(self.n_iter_no_change) else 10**9
            overrides = {"patience": int(patience), "tol": self.tol}
        return schedule_for_epochs(name, self.max_iter, **overrides)

    def _make_trainer(
        self, net: Network, n_samples: int, incremental: bool, comm: Any = None,
        warn: bool = True,
    ) -> Trainer:  # fmt: skip
        verbose = bool(self.verbose)
        if comm is not None:
            from deltaprop.parallel import is_root

            verbose = verbose and is_root(comm)
        callbacks = [*(self.callbacks or ()), *([VerboseLines()] if verbose else [])]
        own = comm is None and _STOP_AT_INTERRUPT.get()
        if own and not any(isinstance(cb, StopOnInterrupt) for cb in callbacks):
            callbacks.append(EstimatorStop())  # Ctrl-C: scikit-learn's warning and model
        n_no_change = self.n_iter_no_change
        early = self._early_stops(incremental)
        return Trainer(
            net,
            self._make_optimizer(),
            learning_rate=self.learning_rate_init,
            schedule=self._make_schedule(),
            batch_size=self._batch_size(n_samples, warn),
            epochs=1 if incremental else int(self.max_iter),  # True is 1, as in scikit-learn
            shuffle=self.shuffle,
            tol=self.tol,
            n_iter_no_change=2**62 if n_no_change == np.inf else min(int(n_no_change), 2**62),
            alpha=self.alpha,
            early_stopping=early,
            validation_fraction=(self.validation_fraction or None) if early else None,
            monitor=self.early_stopping_monitor,
            score=self._score_fn(),
            class_weight=self._class_weight(),
            callbacks=callbacks,
            verbose=False,
            seed=self._seed(comm),
            communicator=comm,
        )
