"""backprop: neural networks trained by explicit, verified backpropagation."""

from backprop.activations import get_activation
from backprop.checkpoints import Checkpoint, load_checkpoint, resume, save_checkpoint
from backprop.estimators import MLPClassifier, MLPRegressor
from backprop.export.onnx import export_onnx
from backprop.gradcheck import GradcheckResult, gradcheck
from backprop.losses import get_loss
from backprop.network import Network
from backprop.optimizers import get_optimizer
from backprop.persistence import (
    ModelFileError,
    ModelFileNotFoundError,
    load,
    register_model_class,
    save,
)
from backprop.schedules import get_schedule
from backprop.training import Callback, DivergenceError, History, Trainer, gradient_descent

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "Checkpoint",
    "DivergenceError",
    "GradcheckResult",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "ModelFileError",
    "ModelFileNotFoundError",
    "Network",
    "Trainer",
    "__version__",
    "export_onnx",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "get_schedule",
    "gradcheck",
    "gradient_descent",
    "load",
    "load_checkpoint",
    "register_model_class",
    "resume",
    "save",
    "save_checkpoint",
]
