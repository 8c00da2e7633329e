"""The defaults of the three faces of training, stated once: the :class:`Trainer`, the
scikit-learn estimators and the ``deltaprop train`` command.

:data:`TRAINER_DEFAULTS` holds the default of every setting of the trainer's constructor
(its signature reads them from here). :data:`ESTIMATOR_DEFAULTS` records the estimators'
defaults where they differ from the trainer's (scikit-learn's values, which their
signatures must keep for ``MLPClassifier`` to be a drop-in; a test holds the signatures
equal to it). :data:`COMMAND_DEFAULTS` holds the command's (its parser reads them from
here). A schedule named by string gets its settings for a run of ``epochs`` epochs from
:func:`deltaprop.optim.schedule_for_epochs`, their one home.

Where they differ, and why
--------------------------
====================  =========  ============  ========  ==============================
setting               Trainer    estimators    command   why
====================  =========  ============  ========  ==============================
hidden layers         (given)    (100,)        "auto"    the linear model or one layer of
                                                         32, by 5-fold cross-validation
                                                         on tables of at most 1000 rows
                                                         (100 with dropout 0.1 above:
                                                         digits' mean held-out log-loss
                                                         0.077 against 32's 0.083, nine
                                                         runs); a layer of 32
                                                         overfits diabetes' 331 noisy
                                                         rows, where the linear model
                                                         reaches LinearRegression; 100
                                                         units overfit small tables more
learning rate         1e-3       1e-3          3e-3      the command's small tables take
                                                         few steps an epoch; 1e-3 stops
                                                         on a small validation set before
                                                         it has fitted
epochs                200        200           500       early stopping ends the command's
                                                         runs; 500 is only a cap
batch size            200        "auto"        32        "auto" = min(200, rows) is the
                                                         trainer's 200; the command's
                                                         tables would get 1-2 steps an
                                                         epoch (32 is Keras's)
alpha (L2)            0          1e-4          "auto"    the trainer is the plain loss
                                                         (Keras's); 1e-4 is
                                                         scikit-learn's; "auto" is 0.1,
                                                         which keeps the probabilities of
                                                         small tables from
                                                         overconfidence, down to the
                                                         total L2 of LogisticRegression's
                                                         C=1 (m/n) above 10·m rows (320):
                                                         0.1 on digits' 1,077 rows was
                                                         6000x scikit-learn's per row and
                                                         left the probabilities soft
                                                         (log-loss 0.096 against 0.084)
early stopping        off        off           on        scikit-learn's off; the command
                                                         stops on its held-out rows
validation share      0.1        0.1           0.2       the refit trains on the held-out
                                                         rows too, so a larger share costs
                                                         the model nothing and steadies
                                                         the epoch count it picks
monitor               val_loss   val_score     val_loss  scikit-learn stops on the
                                                         score; a loss sees the
                                                         probabilities improve when the
                                                         accuracy of 15-57 rows is flat
patience              10         10            30        the validation loss of a few
                                                         dozen rows is noisy
refit                 --         --            on        the held-out rows train too,
                                                         for the epochs they picked
weight init           (the       sklearn_      "auto"    scikit-learn's MLP draws W and b
                      Network's  uniform                 from U(±√(6/(n_in + n_out)))
                      "auto":                            (2 for logistic), from its
                      He for                             RandomState; on digits (2
                      ReLU)                              splits, 4 seeds) He left the
                                                         estimator's held-out log-loss
                                                         at 0.090-0.094 against
                                                         scikit-learn's 0.081-0.082,
                                                         Glorot 0.080-0.081; the
                                                         command's defaults were chosen
                                                         and measured with "auto" (Glorot
                                                         flips diabetes' choice to 32)
optimizer style       "torch"    "keras"       "torch"   scikit-learn's SGD keeps the
                                                         velocity as a step and its Adam
                                                         puts epsilon on the uncorrected
                                                         root; the command's defaults
                                                         were measured with PyTorch's
                                                         rule (the two differ in Adam's
                                                         first steps: one digits split
                                                         of the quality test went from
                                                         0.072 to 0.115 held-out log-loss)
====================  =========  ============  ========  ==============================

Every other setting (optimizer ``"adam"``, schedule ``"constant"``, ``tol`` 1e-4,
shuffling) is the same in all three. Early stopping
restores the best weights in all three.

Examples
--------
>>> TRAINER_DEFAULTS.learning_rate, TRAINER_DEFAULTS.batch_size, TRAINER_DEFAULTS.epochs
(0.001, 200, 200)
>>> COMMAND_DEFAULTS.monitor, COMMAND_DEFAULTS.patience, COMMAND_DEFAULTS.batch_size
('val_loss', 30, 32)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "COMMAND_DEFAULTS",
    "ESTIMATOR_DEFAULTS",
    "TRAINER_DEFAULTS",
    "CommandDefaults",
    "TrainerDefaults",
]


@dataclass(frozen=True)
class TrainerDefaults:
    """The defaults of :class:`~deltaprop.train.trainer.Trainer` (its parameters say what
    each means).

    Attributes
    ----------
    optimizer, learning_rate, schedule, batch_size, epochs, shuffle, tol, n_iter_no_change,
    alpha, clip_norm, validation_fraction, early_stopping, monitor, verbose
        The defaults of the constructor's parameters of those names.
    early_stopping_fraction : float
        The ``validation_fraction`` that ``early_stopping`` holds out when neither a
        fraction nor ``validation_data`` is given (scikit-learn's 0.1).
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    batch_size: int | None = 200
    epochs: int = 200
    shuffle: bool = True
    tol: float = 1e-4
    n_iter_no_change: int = 10
    alpha: float = 0.0
    clip_norm: float | None = None
    validation_fraction: float | None = None
    early_stopping: bool = False
    monitor: str = "val_loss"
    verbose: bool = False
    early_stopping_fraction: float = 0.1


TRAINER_DEFAULTS = TrainerDefaults()
"""The trainer's defaults; ``dataclasses.asdict(TRAINER_DEFAULTS)`` for a plain dict."""

_T = TRAINER_DEFAULTS

ESTIMATOR_DEFAULTS = MappingProxyType(
    {
        "hidden_layer_sizes": (100,),
        "batch_size": "auto",
        "alpha": 1e-4,
        "early_stopping": False,
        "early_stopping_monitor": "val_score",
        "init": "sklearn_uniform",
        "optimizer_style": "keras",
    }
)
"""The estimators' defaults (by parameter name) that are not the trainer's: scikit-learn's,
kept for compatibility (see the table above). ``"auto"`` is ``min(200, n_samples)``, the
trainer's 200 clipped to the rows."""


@dataclass(frozen=True)
class CommandDefaults:
    """The defaults of ``deltaprop train``'s network and training options (the table above
    says why each that is not the trainer's differs).

    Attributes
    ----------
    hidden : tuple of int or "auto"
        ``--hidden``: ``"auto"`` chooses between the linear model (no hidden layer) and
        ``auto_hidden`` by cross-validation on the run's rows
        (:mod:`deltaprop.app.candidates` has the rule, the row limit and why).
    auto_hidden : tuple of int
        The hidden candidate of ``--hidden auto`` (and what ``auto`` trains where no
        comparison is made for another reason than the row count: no early stopping,
        streamed inputs).
    large_hidden, large_dropout : tuple of int, float
        What ``--hidden auto`` trains on a table of more rows than the comparison's
        limit: scikit-learn's one layer of 100, with dropout at ``large_dropout``
        (``--dropout`` other than 0 replaces it).
    activation : str
        ``--activation``.
    optimizer, learning_rate, schedule, epochs, batch_size
        ``--optimizer``, ``--learning-rate``, ``--schedule``, ``--epochs``,
        ``--batch-size``.
    alpha : float or "auto"
        ``--alpha``: ``"auto"`` is ``min(auto_alpha, m / n)`` for a fit on ``n`` rows in
        batches of ``m`` (:func:`deltaprop.app.candidates.command_alpha` has the rule).
    auto_alpha : float
        The most L2 of ``--alpha auto``: the penalty of small tables.
    momentum : float
        ``--momentum`` (of sgd; scikit-learn's 0.9).
    validation : float
        ``--validation``: the share held out (twice the trainer's early-stopping
        fraction: the refit trains on those rows too).
    early_stopping : bool
        ``--early-stopping``: stop on the validation set and restore the best weights.
    monitor : {"val_loss", "val_score"}
        ``--monitor``: what early stopping watches.
    patience : int
        ``--patience``: epochs without an improvement by ``tol`` before stopping.
    refit : bool
        ``--refit``: after early stopping found the best epoch count ``K`` on the
        validation rows, train afresh on all rows (training and validation) for ``K``
        epochs and keep those weights (the standard use of a validation split: it picks
        ``K``, then every row trains).
    seed : int
        ``--seed``.
    init : str
        The initializer the command's estimators get (not an option): the Network's
        ``"auto"`` (He-normal for ReLU), with which its defaults were measured.
    optimizer_style : str
        The optimizers' update rule the command's estimators get (not an option):
        ``"torch"``, the Trainer's, with which its defaults were measured.
    """

    hidden: tuple[int, ...] | str = "auto"
    auto_hidden: tuple[int, ...] = (32,)
    large_hidden: tuple[int, ...] = (100,)
    large_dropout: float = 0.1
    activation: str = "relu"
    optimizer: str = _T.optimizer
    learning_rate: float = 3e-3
    schedule: str = _T.schedule
    momentum: float = 0.9
    epochs: int = 500
    batch_size: int = 32
    validation: float = 0.2
    early_stopping: bool = True
    monitor: str = _T.monitor
    patience: int = 30
    refit: bool = True
    alpha: float | str = "auto"
    auto_alpha: float = 0.1
    seed: int = 0
    init: str = "auto"
    optimizer_style: str = "torch"


COMMAND_DEFAULTS = CommandDefaults()
"""The command's defaults, read by its parser."""
