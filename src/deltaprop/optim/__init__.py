"""Optimizers (SGD, momentum, Nesterov, RMSprop, Adam, AdamW, L-BFGS) and learning-rate schedules."""

from deltaprop.optim.optimizers import (
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
)
from deltaprop.optim.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    get_schedule,
)

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "InverseScaling",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "get_optimizer",
    "get_schedule",
]
