"""Files: the safetensors container, network files, the model registry (save/load), checkpoints."""

from deltaprop.io.checkpoints import Checkpoint, load_checkpoint, resume, save_checkpoint
from deltaprop.io.persistence import (
    ModelFileError,
    ModelFileNotFoundError,
    atomic_write,
    load,
    register_model_class,
    save,
)

__all__ = [
    "Checkpoint",
    "ModelFileError",
    "ModelFileNotFoundError",
    "atomic_write",
    "load",
    "load_checkpoint",
    "register_model_class",
    "resume",
    "save",
    "save_checkpoint",
]
