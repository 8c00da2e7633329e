"""The seeds' equations: activations, losses, initializers, layers, the network, gradcheck.

Nothing here imports anything above it (``optim``, ``fast``, ``train``, ...).
"""

from deltaprop.core.activations import (
    ACTIVATIONS,
    Activation,
    Identity,
    ReLU,
    Sigmoid,
    Tanh,
    activation_class,
    get_activation,
    hidden_activation_names,
)
from deltaprop.core.buffers import ParameterMemoryError
from deltaprop.core.checks import check_bool, check_int, check_real
from deltaprop.core.gradcheck import GradcheckResult, gradcheck
from deltaprop.core.initializers import INITIALIZERS, get_initializer
from deltaprop.core.inputs import as_generator, check_sample_weight
from deltaprop.core.layers import BatchNorm, Dense, Dropout
from deltaprop.core.losses import (
    LOSSES,
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Loss,
    MeanSquaredError,
    get_loss,
)
from deltaprop.core.network import Network
from deltaprop.core.summary import summary

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "Activation",
    "BatchNorm",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "Dense",
    "Dropout",
    "GradcheckResult",
    "Identity",
    "Loss",
    "MeanSquaredError",
    "Network",
    "ParameterMemoryError",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "activation_class",
    "as_generator",
    "check_bool",
    "check_int",
    "check_real",
    "check_sample_weight",
    "get_activation",
    "get_initializer",
    "get_loss",
    "gradcheck",
    "hidden_activation_names",
    "summary",
]
