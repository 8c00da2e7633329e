"""deltaprop: neural networks trained by explicit, verified backpropagation."""

from deltaprop.core.activations import get_activation
from deltaprop.core.gradcheck import GradcheckResult, gradcheck
from deltaprop.core.losses import get_loss
from deltaprop.core.network import Network
from deltaprop.export.onnx import export_onnx
from deltaprop.io.checkpoints import Checkpoint, load_checkpoint, resume, save_checkpoint
from deltaprop.io.persistence import (
    ModelFileError,
    ModelFileNotFoundError,
    load,
    register_model_class,
    save,
)
from deltaprop.optim.optimizers import get_optimizer
from deltaprop.optim.schedules import get_schedule
from deltaprop.sklearn.estimators import MLPClassifier, MLPRegressor
from deltaprop.train.trainer import Callback, DivergenceError, History, Trainer, gradient_descent

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
