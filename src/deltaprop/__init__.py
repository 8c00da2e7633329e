"""deltaprop: neural networks trained by explicit, verified backpropagation."""

from deltaprop.core import GradcheckResult, Network, get_activation, get_loss, gradcheck
from deltaprop.export import export_onnx
from deltaprop.io import ModelFileError, ModelFileNotFoundError, load, register_model_class, save
from deltaprop.optim import get_optimizer, get_schedule
from deltaprop.sklearn import MLPClassifier, MLPRegressor
from deltaprop.train import (
    Callback,
    Checkpoint,
    CSVLogger,
    DivergenceError,
    History,
    ResumeFrom,
    Trainer,
    gradient_descent,
    load_checkpoint,
    resume,
    save_checkpoint,
)

__version__ = "0.1.0"

__all__ = [
    "CSVLogger",
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
    "ResumeFrom",
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
