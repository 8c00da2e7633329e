"""The Trainer: epochs, mini-batches, validation, early stopping; callbacks, History, progress."""

from deltaprop.parallel import Communicator
from deltaprop.train.batches import BatchGather, GradStats, effective_batch_size
from deltaprop.train.callbacks import Callback, History, StopOnInterrupt
from deltaprop.train.checkpoint import (
    Checkpoint,
    ResumeFrom,
    load_checkpoint,
    resume,
    save_checkpoint,
)
from deltaprop.train.defaults import (
    COMMAND_DEFAULTS,
    ESTIMATOR_DEFAULTS,
    TRAINER_DEFAULTS,
    CommandDefaults,
    TrainerDefaults,
)
from deltaprop.train.descent import gradient_descent
from deltaprop.train.distributed import distributed_backward
from deltaprop.train.errors import DivergenceError
from deltaprop.train.loggers import CSVLogger, history_csv
from deltaprop.train.mlflow_logger import MLflowLogger
from deltaprop.train.progress import ProgressBar, Reporter, VerboseLines, compile_notes
from deltaprop.train.scores import CLASSIFICATION_LOSSES, ScoreFn, accuracy_score, r2_score
from deltaprop.train.splits import (
    MIN_VALIDATION_ROWS,
    split_validation_rows,
    validation_indices,
    validation_size,
    validation_split,
)
from deltaprop.train.tensorboard import TensorBoardLogger
from deltaprop.train.trainer import Trainer
from deltaprop.train.weights import class_weights

__all__ = [
    "CLASSIFICATION_LOSSES",
    "COMMAND_DEFAULTS",
    "ESTIMATOR_DEFAULTS",
    "MIN_VALIDATION_ROWS",
    "TRAINER_DEFAULTS",
    "BatchGather",
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "CommandDefaults",
    "Communicator",
    "DivergenceError",
    "GradStats",
    "History",
    "MLflowLogger",
    "ProgressBar",
    "Reporter",
    "ResumeFrom",
    "ScoreFn",
    "StopOnInterrupt",
    "TensorBoardLogger",
    "Trainer",
    "TrainerDefaults",
    "VerboseLines",
    "accuracy_score",
    "class_weights",
    "compile_notes",
    "distributed_backward",
    "effective_batch_size",
    "gradient_descent",
    "history_csv",
    "load_checkpoint",
    "r2_score",
    "resume",
    "save_checkpoint",
    "split_validation_rows",
    "validation_indices",
    "validation_size",
    "validation_split",
]
