"""Diffusion Policy (Chi et al., 2023), parameter-compatible with upstream LeRobot."""

from lerobot_core.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot_core.policies.diffusion.modeling_diffusion import DiffusionPolicy

__all__ = ["DiffusionConfig", "DiffusionPolicy"]
