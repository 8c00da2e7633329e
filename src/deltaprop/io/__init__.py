"""Files: the safetensors container, network files, the model registry and save/load, the
checkpoint file (the trainer's side of checkpoints is :mod:`deltaprop.train.checkpoint`)."""

from deltaprop.io.checkpoints import CheckpointContents, read_checkpoint_file, write_checkpoint_file
from deltaprop.io.container import FORMAT_VERSION, MAX_HEADER_BYTES, atomic_write, stale_temp_files
from deltaprop.io.errors import ModelFileError, ModelFileNotFoundError, WrongKindError, naming_file
from deltaprop.io.models import load, save
from deltaprop.io.network_files import checked_config, sequential_layout, tensor_specs
from deltaprop.io.registry import (
    MODEL_ENTRY_POINTS,
    Extra,
    ModelKind,
    ModelWrapper,
    model_wrapper_of,
    register_model_class,
    register_model_kind,
    register_model_wrapper,
)

__all__ = [
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MODEL_ENTRY_POINTS",
    "CheckpointContents",
    "Extra",
    "ModelFileError",
    "ModelFileNotFoundError",
    "ModelKind",
    "ModelWrapper",
    "WrongKindError",
    "atomic_write",
    "checked_config",
    "load",
    "model_wrapper_of",
    "naming_file",
    "read_checkpoint_file",
    "register_model_class",
    "register_model_kind",
    "register_model_wrapper",
    "save",
    "sequential_layout",
    "stale_temp_files",
    "tensor_specs",
    "write_checkpoint_file",
]
