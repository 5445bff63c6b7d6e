"""Names and locations shared across the library (upstream LeRobot's names)."""

from __future__ import annotations

import os
from pathlib import Path

OBS_STR = "observation"
OBS_STATE = "observation.state"
OBS_ENV_STATE = "observation.environment_state"
OBS_IMAGE = "observation.image"
OBS_IMAGES = "observation.images"
ACTION = "action"
REWARD = "next.reward"
DONE = "next.done"

PRETRAINED_MODEL_DIR = "pretrained_model"
TRAINING_STATE_DIR = "training_state"
CHECKPOINTS_DIR = "checkpoints"
CONFIG_NAME = "config.json"
SAFETENSORS_SINGLE_FILE = "model.safetensors"
POLICY_PREPROCESSOR_DEFAULT_NAME = "policy_preprocessor"
POLICY_POSTPROCESSOR_DEFAULT_NAME = "policy_postprocessor"


def hf_home() -> Path:
    """Hugging Face cache root (``HF_HOME``, default ``~/.cache/huggingface``)."""
    return Path(os.getenv("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser()


def hf_lerobot_home() -> Path:
    """Where datasets downloaded by ``repo_id`` live (``HF_LEROBOT_HOME``, default ``$HF_HOME/lerobot``)."""
    return Path(os.getenv("HF_LEROBOT_HOME", hf_home() / "lerobot")).expanduser()
