"""backprop: neural networks trained by explicit, verified backpropagation."""

from backprop.activations import get_activation
from backprop.gradcheck import GradcheckResult, gradcheck
from backprop.losses import get_loss
from backprop.network import Network
from backprop.training import gradient_descent

__version__ = "0.1.0"

__all__ = [
    "GradcheckResult",
    "Network",
    "__version__",
    "get_activation",
    "get_loss",
    "gradcheck",
    "gradient_descent",
]
