"""backprop: neural networks trained by explicit, verified backpropagation."""

from backprop.activations import get_activation
from backprop.estimators import MLPClassifier, MLPRegressor
from backprop.gradcheck import GradcheckResult, gradcheck
from backprop.losses import get_loss
from backprop.network import Network
from backprop.optimizers import get_optimizer
from backprop.schedules import get_schedule
from backprop.training import Callback, DivergenceError, History, Trainer, gradient_descent

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "DivergenceError",
    "GradcheckResult",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "Network",
    "Trainer",
    "__version__",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "get_schedule",
    "gradcheck",
    "gradient_descent",
]
